/**
 * Step outputs and the job summary, written by `@actions/core`: `setOutput`
 * (a `name<<delimiter` block in the GITHUB_OUTPUT file) and `summary` (the
 * GITHUB_STEP_SUMMARY file), taking the file as an argument: `@actions/core`
 * reads it from `process.env` when it writes, while the scripts take their
 * environment as an argument (tests run several in one process, each with its
 * own files), so each write runs with that file in `process.env`
 * (./actions.ts withProcessEnv).
 * @see https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#setting-an-output-parameter
 * @see https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#adding-a-job-summary
 */
import { appendFile } from 'node:fs/promises';
import * as core from '@actions/core';
import { ProjectError } from '../errors.ts';
import { redactText } from '../redact.ts';
import { withProcessEnv } from './actions.ts';

/**
 * Set step outputs with `core.setOutput` (a `name<<delimiter` block each in
 * the GITHUB_OUTPUT file at `path`, created when missing), so that
 * `steps.<id>.outputs.<name>` carries the value. INVALID naming the file
 * when it cannot be written.
 */
export async function setOutputs(path: string, outputs: Record<string, string>): Promise<void> {
  try {
    await appendFile(path, '');
    await withProcessEnv({ GITHUB_OUTPUT: path }, () => {
      for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value);
    });
  } catch (e) {
    throw new ProjectError(
      'INVALID',
      `cannot write the step outputs to ${path} (GITHUB_OUTPUT): ${(e as Error).message}`,
      { subject: path, cause: e },
    );
  }
}

/** A `core.summary` of its own: the shared one keeps the file of its first write for the life of the process. */
const newSummary = (): typeof core.summary =>
  new (core.summary.constructor as new () => typeof core.summary)();

/**
 * Append `text` to the job summary file at `path` with `core.summary`
 * (`addRaw(...).write()`: the file must exist and be writable, as Actions
 * makes it), without credentials (platform/redact.ts: a summary is public to
 * whoever reads the run). INVALID naming the file when it cannot be written.
 */
export async function appendJobSummary(path: string, text: string): Promise<void> {
  const markdown = redactText(text);
  try {
    await withProcessEnv({ GITHUB_STEP_SUMMARY: path }, () =>
      newSummary().addRaw(markdown, !markdown.endsWith('\n')).write(),
    );
  } catch (e) {
    throw new ProjectError(
      'INVALID',
      `cannot write the job summary to ${path} (GITHUB_STEP_SUMMARY): ${(e as Error).message}`,
      { subject: path, cause: e },
    );
  }
}
