// Adds lock entries for platform-specific optional packages that the registry
// mirror does not serve, so that `npm ci` accepts the lock on any machine.

import { readFileSync, writeFileSync } from 'node:fs';

const path = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(path, 'utf8'));
const pkgs = lock.packages;
const OS = ['android', 'darwin', 'win32', 'linux', 'freebsd', 'openharmony'];
const CPU = {
  arm64: 'arm64',
  x64: 'x64',
  ia32: 'ia32',
  arm: 'arm',
  ppc64: 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
};
let added = 0;
for (const [key, meta] of Object.entries(pkgs)) {
  for (const [name, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    const base = key ? `${key}/node_modules/${name}` : `node_modules/${name}`;
    if (pkgs[base] || pkgs[`node_modules/${name}`]) continue;
    const parts = name.split('/').pop().split('-');
    const os = parts.find((p) => OS.includes(p));
    const cpuPart = parts.find((p) => CPU[p]) ?? (parts.includes('eabi') ? 'arm' : undefined);
    if (!os) continue;
    const entry = { version: spec.replace(/^[\^~=]/, ''), optional: true, os: [os] };
    if (cpuPart) entry.cpu = [CPU[cpuPart]];
    if (parts.some((p) => p.startsWith('musl'))) entry.libc = ['musl'];
    else if (os === 'linux') entry.libc = ['glibc'];
    pkgs[`node_modules/${name}`] = entry;
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} platform entries`);
