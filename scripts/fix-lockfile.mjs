// Adds lock entries for platform-specific optional packages that npm left out
// of the lock on this platform, and gives every entry without one its
// `resolved` tarball and `integrity` hash from the registry (`npm view`), so
// that `npm ci` accepts the lock on any platform and checks every package it
// installs (tools/policy/package-lock.test.ts checks both).

import { execFileSync } from 'node:child_process';
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
let hashed = 0;
for (const [key, meta] of Object.entries(pkgs)) {
  if (!key || meta.link || meta.integrity) continue;
  const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
  const dist = JSON.parse(
    execFileSync('npm', ['view', `${name}@${meta.version}`, 'dist', '--json'], { encoding: 'utf8' }),
  );
  if (!dist.integrity || !dist.tarball)
    throw new Error(`the registry has no integrity for ${name}@${meta.version}`);
  meta.resolved = dist.tarball;
  meta.integrity = dist.integrity;
  hashed++;
}
lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} platform entries, ${hashed} integrity hashes`);
