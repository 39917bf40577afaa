/**
 * The paired section of a training report: the candidate and the champion
 * (the version pinned in prod) on the same golden set, from the candidate's
 * golden.json, with the margin and level of the pairedNonInferiority gate the
 * candidate will face (environments/promotion-gates.json), so the PR comment
 * says what the promotion gate will decide, computed the same way
 * (model/golden). Pure apart from reading golden.json of the local artifact.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  compareWithChampion,
  GOLDEN_FILE,
  type GoldenEvaluation,
  type PairedComparison,
  parseGoldenText,
} from '../../model/golden/index.ts';
import type { GatesConfig } from '../promotion/config.ts';

/** The margin and level the report uses, and where they come from (said in the report). */
export interface PairedPolicy {
  margin: number;
  alpha: number;
  /** e.g. "pairedNonInferiority vs prod of environment prod in environments/promotion-gates.json". */
  source: string;
}

/** Margin and level when the gates file has no pairedNonInferiority gate for the environment. */
export const DEFAULT_PAIRED_POLICY = { margin: 0.01, alpha: 0.05 } as const;

/**
 * The pairedNonInferiority gate against `vs` that environment `vs` itself
 * requires (the last step a candidate takes), else the first such gate of any
 * environment, else {@link DEFAULT_PAIRED_POLICY}.
 */
export function pairedPolicyOf(config: GatesConfig | undefined, vs: string, gatesRel: string): PairedPolicy {
  const envs = config ? Object.keys(config.environments).sort() : [];
  for (const env of [vs, ...envs.filter((e) => e !== vs)]) {
    const g = config?.environments[env]?.gates.pairedNonInferiority?.find((x) => x.vs === vs);
    if (g) {
      return {
        margin: g.margin,
        alpha: g.alpha,
        source: `pairedNonInferiority vs ${vs} of environment ${env} in \`${gatesRel}\``,
      };
    }
  }
  return {
    ...DEFAULT_PAIRED_POLICY,
    source: `the default (\`${gatesRel}\` has no pairedNonInferiority gate against ${vs})`,
  };
}

/** The candidate's golden.json in its local artifact folder; undefined when it has none. */
export async function readLocalGolden(artifactDir: string): Promise<GoldenEvaluation | undefined> {
  const path = join(artifactDir, GOLDEN_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseGoldenText(text, path);
}

/** What the report shows about the golden set. */
export type PairedSection =
  | { kind: 'unavailable'; reason: string }
  | {
      kind: 'compared';
      golden: { name: string; digest: string; n: number };
      champion: string;
      vs: string;
      result: PairedComparison;
      source: string;
    };

/** The paired section for a candidate's golden.json against the version pinned in `vs` (undefined: none). */
export function pairedSection(
  golden: GoldenEvaluation | undefined,
  vs: string,
  pinned: string | undefined,
  policy: PairedPolicy,
): PairedSection {
  if (!golden) {
    return {
      kind: 'unavailable',
      reason:
        'the candidate was not scored on a golden set: the training config has no `golden` section, so the promotion gate pairedNonInferiority will refuse it',
    };
  }
  const set = `golden set **${golden.name}** (\`${golden.digest.slice(0, 19)}…\`, n = ${golden.truth.length})`;
  if (pinned === undefined) {
    return {
      kind: 'unavailable',
      reason: `no champion: nothing is pinned in ${vs} yet, so there is nothing to compare with on the ${set}; the gate passes with "no champion"`,
    };
  }
  const compared = compareWithChampion(golden, pinned, policy);
  if (!compared.ok)
    return {
      kind: 'unavailable',
      reason: `${vs} (${pinned}) not compared on the ${set}: ${compared.problem}`,
    };
  return {
    kind: 'compared',
    golden: { name: golden.name, digest: golden.digest, n: golden.truth.length },
    champion: pinned,
    vs,
    source: policy.source,
    result: compared.result,
  };
}
