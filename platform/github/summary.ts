/**
 * The job summary and step outputs. The summary: markdown appended to the file named by
 * GITHUB_STEP_SUMMARY, the same contract as `@actions/core`'s
 * `core.summary.addRaw(md).write()` (append, file must exist), taking the
 * path as an argument instead of reading process.env once per process.
 * @see https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#adding-a-job-summary
 */
import { randomUUID } from 'node:crypto';
import { access, appendFile, constants } from 'node:fs/promises';
import { EOL } from 'node:os';
import { ProjectError } from '../errors.ts';
import { redactText } from '../redact.ts';

/**
 * Append `markdown` to the job summary file, without credentials (platform/redact.ts
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

/**
 * Set step outputs: append `name<<delimiter`, the value, `delimiter` to the
 * file named by GITHUB_OUTPUT, as `@actions/core`'s `setOutput` does (a
 * random delimiter, refused if the name or value contains it), so that
 * `steps.<id>.outputs.<name>` carries the value.
 * @see https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#setting-an-output-parameter
 */
export async function setOutputs(path: string, outputs: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(outputs)) {
    const delimiter = `ghadelimiter_${randomUUID()}`;
    if (name.includes(delimiter) || value.includes(delimiter)) {
      throw new ProjectError('INVALID', `step output ${name} contains the delimiter ${delimiter}`);
    }
    lines.push(`${name}<<${delimiter}`, value, delimiter);
  }
  try {
    await appendFile(path, `${lines.join(EOL)}${EOL}`, 'utf8');
  } catch (e) {
    throw new ProjectError(
      'INVALID',
      `cannot write the step outputs to ${path} (GITHUB_OUTPUT): ${(e as Error).message}`,
      { subject: path, cause: e },
    );
  }
}
