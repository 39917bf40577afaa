/**
 * The `imageAttested` gate (docs/signing.md#images): the serving image a
 * promotion pins is one image.yml built and attested. Its attestations are
 * read from GitHub's attestations API (GET
 * /repos/{owner}/{repo}/attestations/sha256:<hex>, the job token with
 * `attestations: read`), and one must verify against the signing policy in
 * Git with a signer trusted to sign images (`"signs": ["images"]`): the
 * image workflow of this repository on main, by default.
 * @see https://docs.github.com/en/rest/repos/attestations
 */
import { loadSigningPolicy, type SigningPolicy } from '../../model/signing/policy.ts';
import { signatureRefusal, type VerifyOptions, verifyImageAttestation } from '../../model/signing/verify.ts';
import { apiError, type GithubApi, octokitFor } from '../../platform/github/client.ts';

/** What the check found for one image. */
export interface AttestationCheck {
  ok: boolean;
  /** Who attested it, or why the image is refused. */
  detail: string;
}

/** Checks the attestation of one image reference (side effect passed in). */
export type ImageAttestationChecker = (image: string | undefined) => Promise<AttestationCheck>;

/** One entry of the attestations API's answer. */
interface ListedAttestation {
  bundle?: unknown;
  bundle_url?: string;
}

const DIGEST_REF = /@sha256:([0-9a-f]{64})$/;

/** The attestations GitHub keeps for `digest` in the repository of `api` (none: []). */
async function listAttestations(api: GithubApi, digest: string): Promise<ListedAttestation[]> {
  try {
    const res = await octokitFor(api).request('GET /repos/{owner}/{repo}/attestations/{subject_digest}', {
      owner: api.owner,
      repo: api.repo,
      subject_digest: `sha256:${digest}`,
      per_page: 30,
    });
    return ((res.data as { attestations?: ListedAttestation[] }).attestations ?? []).slice(0, 30);
  } catch (e) {
    if ((e as { status?: number }).status === 404) return [];
    throw apiError(`listing the attestations of sha256:${digest}`, api, e);
  }
}

/**
 * A checker against the policy file `policyPath` (read once), reading
 * attestations through `api`; without `api` (no GITHUB_REPOSITORY and
 * GITHUB_TOKEN) every image fails, saying so.
 */
export function githubImageAttestations(
  api: GithubApi | undefined,
  policyPath: string,
  opts: VerifyOptions = {},
): ImageAttestationChecker {
  let policy: Promise<SigningPolicy> | undefined;
  return async (image) => {
    const digest = image ? DIGEST_REF.exec(image)?.[1] : undefined;
    if (!image || !digest) {
      return { ok: false, detail: image ? `${image} is a tag, not a digest` : 'no image recorded' };
    }
    if (!api) {
      return {
        ok: false,
        detail:
          'no GitHub API to read attestations from: set GITHUB_REPOSITORY and GITHUB_TOKEN (attestations: read)',
      };
    }
    policy ??= loadSigningPolicy(policyPath);
    const listed = await listAttestations(api, digest);
    if (!listed.length)
      return { ok: false, detail: `no attestation of ${image} in ${api.owner}/${api.repo}` };
    const refusals: string[] = [];
    for (const a of listed) {
      if (a.bundle === undefined || a.bundle === null) {
        refusals.push('an attestation without its bundle inline');
        continue;
      }
      try {
        const who = await verifyImageAttestation(a.bundle, { ref: image, digest }, await policy, opts);
        return { ok: true, detail: `attested by "${who.signer}" (${who.identity})` };
      } catch (e) {
        const why = signatureRefusal(e);
        if (why === undefined) throw e;
        refusals.push(why);
      }
    }
    return { ok: false, detail: `${listed.length} attestation(s), none trusted: ${refusals.join('; ')}` };
  };
}
