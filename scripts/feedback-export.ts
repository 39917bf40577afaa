/**
 * Export a server's labelled feedback as training data:
 *
 *   SERVING_FEEDBACK_EXPORT_TOKEN=... npm run feedback:export -- --url http://host:8080 --out data/feedback
 *
 * Writes one folder per true label (the layout of the image-folder data
 * source) and feedback.jsonl. The token comes from the environment, never a
 * flag (it would stay in the shell history). Exit 0, 1 on failure, 2 bad usage.
 */

import { exportFeedback } from '../pipelines/feedback/index.ts';
import {
  isMain,
  ProjectError,
  parseCommand,
  runMain,
  type ScriptDeps,
  scriptDeps,
  usageOf,
} from '../platform/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'SERVING_FEEDBACK_EXPORT_TOKEN=<token> npm run feedback:export --',
  summary: `Export a model server's labelled feedback as training data: one folder per true
label (the layout of the image-folder data source) and feedback.jsonl.`,
  required: ['url', 'out'],
  options: {
    url: { type: 'string', value: '<server URL>', help: 'the model server, e.g. http://127.0.0.1:8080' },
    out: {
      type: 'string',
      value: '<folder>',
      help: 'where to write one folder per label and feedback.jsonl (e.g. data/feedback)',
    },
  },
  notes: `The token comes from SERVING_FEEDBACK_EXPORT_TOKEN, never a flag (it would stay in
the shell history). Prints how many images it exported, per label.`,
} as const;

export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, (t) => d.print(`${t}\n`));
  if (!cli) return 0;
  const token = d.env.SERVING_FEEDBACK_EXPORT_TOKEN;
  if (!token) {
    throw new ProjectError('USAGE', `SERVING_FEEDBACK_EXPORT_TOKEN is not set\n\n${usageOf(COMMAND)}`, {
      subject: 'SERVING_FEEDBACK_EXPORT_TOKEN',
    });
  }
  const r = await exportFeedback({
    url: cli.values.url!,
    outDir: cli.values.out!,
    token,
    ...(d.fetch ? { fetch: d.fetch } : {}),
  });
  const labels = Object.entries(r.byLabel)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([l, n]) => `${l} ${n}`)
    .join(', ');
  d.print(`exported ${r.images} labelled image(s) to ${cli.values.out} (${labels || 'none'}); ${r.jsonl}\n`);
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
