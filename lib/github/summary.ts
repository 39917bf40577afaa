/**
 * The job summary: markdown appended to the file named by
 * GITHUB_STEP_SUMMARY, the same contract as `@actions/core`'s
 * `core.summary.addRaw(md).write()` (append, file must exist), taking the
 * path as an argument instead of reading process.env once per process.
 * @see https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#adding-a-job-summary
 */
import { access, appendFile, constants } from 'node:fs/promises';
import { EOL } from 'node:os';
import { ProjectError } from '../errors.ts';
import { redactText } from '../redact.ts';

/**
 * Append `markdown` to the job summary file, without credentials (lib/redact.ts
 * redactText: a summary is public to whoever reads the run); INVALID naming
 * the file when it cannot be written.
 */
export async function appendJobSummary(path: string, text: string): Promise<void> {
  const markdown = redactText(text);
  try {
    await access(path, constants.R_OK | constants.W_OK);
    await appendFile(path, markdown.endsWith('\n') ? markdown : `${markdown}${EOL}`, 'utf8');
  } catch (e) {
    throw new ProjectError(
      'INVALID',
      `cannot write the job summary to ${path} (GITHUB_STEP_SUMMARY): ${(e as Error).message}`,
      {
        subject: path,
        cause: e,
      },
    );
  }
}
