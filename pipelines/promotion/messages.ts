/**
 * What promotion writes for people: the promotion commit's message (subject,
 * a revert's reason verbatim, the gate rows, the image) and the job
 * summaries of a failed verification and of a revert. The revert subject is
 * also what the notReverted gate tells people to look for with `git log --grep`.
 */
import type { PromoteResult } from './move.ts';

/** The revert commit's subject, to find it with `git log --grep`. */
export function revertSubject(model: string, env: string, to: string, from: string): string {
  return `revert ${model} ${env} to ${to} (from ${from}): post-promotion verification failed`;
}

/** The promotion commit's message: subject, the reason of a revert (verbatim), the gate rows, the image. */
export function commitMessage(r: Omit<PromoteResult, 'commit' | 'pushed' | 'pushAttempts'>): string {
  const passed = r.gates.filter((g) => g.pass).length;
  const subject = r.revert
    ? revertSubject(r.model, r.env, r.version, r.revert.version)
    : r.mode === 'rollback'
      ? `rollback ${r.model} ${r.env} to ${r.version} (from ${r.from})`
      : `promote ${r.model}@${r.version} to ${r.env} (gates: ${passed}/${r.gates.length} passed)`;
  const body = [
    ...(r.revert ? ['Reason (the failed checks, verbatim):', '', r.revert.reason.trimEnd(), ''] : []),
    ...r.gates.map((g) => `${g.pass ? 'pass' : 'FAIL'} ${g.gate}: ${g.actual}`),
    ...(r.image ? [`image: ${r.image}`] : []),
  ].join('\n');
  return body ? `${subject}\n\n${body}\n` : `${subject}\n`;
}

/** The job summary of a revert (markdown): what was reverted, to what, why (verbatim), and the commit. */
export function revertSummary(result: PromoteResult): string {
  const failed = result.revert?.version ?? result.from ?? '?';
  const lines = [
    `## Reverted ${result.model} in ${result.env}: ${failed} → ${result.version}`,
    '',
    result.changed
      ? `Post-promotion verification of version \`${failed}\` failed, so ${result.env} was pinned back to \`${result.version}\`${result.image ? ` (image \`${result.image}\`)` : ''}${result.commit ? ` in commit \`${result.commit}\`${result.pushed ? ' (pushed)' : ' (not pushed)'}` : ' (not committed)'}. Promoting \`${failed}\` to another environment is refused by the \`notReverted\` gate.`
      : `${result.env} already runs \`${result.version}\`: it was reverted before; nothing changed.`,
    '',
    'Reason (the failed checks, verbatim):',
    '',
    '```',
    (result.revert?.reason ?? '').trimEnd().replaceAll('```', "'''"),
    '```',
    '',
  ];
  return lines.join('\n');
}

/** The job summary of a failed post-promotion verification (markdown): what failed, verbatim, and what comes next. */
export function verificationFailedSummary(f: {
  env: string;
  version: string;
  model?: string;
  reason: string;
  /** This job reverts it itself (verify-rollout --revert-on-failure), else the revert job does. */
  reverting: boolean;
}): string {
  return `## Verification of ${f.model ?? 'the model'} version ${f.version} in ${f.env} failed\n\n\`\`\`\n${f.reason.replaceAll('```', "'''")}\n\`\`\`\n\n${f.reverting ? 'Reverting through Git (below).' : 'The revert job pins the version before.'}\n`;
}
