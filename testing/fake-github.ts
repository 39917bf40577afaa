/**
 * A FAKE of GitHub's REST API, for tests only: GitHub cannot run here, so
 * this small node:http server on 127.0.0.1 speaks the real wire format
 * (paths, JSON shapes, status codes, Link pagination) of exactly the calls
 * this project makes, keeps their state in memory and records every request:
 *
 * - GET    /repos/{o}/{r}/issues/{n}/comments   (per_page, page; Link rel="next"/"last")
 * - POST   /repos/{o}/{r}/issues/{n}/comments   → 201 issue comment
 * - PATCH  /repos/{o}/{r}/issues/comments/{id}  → 200 issue comment
 * - GET    /repos/{o}/{r}/pulls                 (state, head "owner:branch", base)
 * - POST   /repos/{o}/{r}/pulls                 → 201 pull request; 422 when one is open for head
 * - PATCH  /repos/{o}/{r}/pulls/{n}             → 200 pull request
 * - POST   /repos/{o}/{r}/issues/{n}/labels     → 200 labels of the issue
 * - POST   /repos/{o}/{r}/actions/workflows/{file}/dispatches → 204 (ref required; a workflow
 *          without a workflow_dispatch trigger 404; an input it does not declare 422)
 * - GET    /repos/{o}/{r}/pulls/{n}             → 200 pull request (head.repo.full_name: a fork's)
 * - GET    /repos/{o}/{r}/pulls/{n}/reviews     (per_page, page; chronological, as GitHub lists them)
 * - GET    /repos/{o}/{r}/collaborators/{user}/permission → 200 { permission, role_name, user };
 *          404 for a login the fake does not know
 * - GET    /repos/{o}/{r}/attestations/{subject_digest} → 200 { attestations: [{ bundle, repository_id }] }
 *          (the bundle inline, as API version 2022-11-28 answers); 404 when there is none
 *
 * Every request must carry `Authorization: token <t>` or `Bearer <t>` with
 * the configured token (401 "Bad credentials" otherwise).
 * @see https://docs.github.com/en/rest/issues/comments
 * @see https://docs.github.com/en/rest/pulls/pulls
 * @see https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
 * @see https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
 * @see https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request
 * @see https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user
 * @see https://docs.github.com/en/rest/repos/attestations#list-attestations
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface FakeComment {
  id: number;
  node_id: string;
  url: string;
  html_url: string;
  issue_url: string;
  body: string;
  user: { login: string; id: number; type: string };
  created_at: string;
  updated_at: string;
  author_association: string;
}

export interface FakePull {
  id: number;
  number: number;
  url: string;
  html_url: string;
  state: 'open' | 'closed';
  title: string;
  body: string | null;
  draft: boolean;
  user: { login: string; id: number; type: string };
  head: { ref: string; label: string; sha: string; repo: { full_name: string } | null };
  base: { ref: string; label: string; sha: string; repo: { full_name: string } };
  labels: { id: number; name: string; color: string; default: boolean }[];
  created_at: string;
}

/** A review's state as the REST API spells it. */
export type FakeReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';

export interface FakeReview {
  id: number;
  node_id: string;
  user: { login: string; id: number; type: string };
  body: string;
  state: FakeReviewState;
  html_url: string;
  pull_request_url: string;
  _links: { html: { href: string }; pull_request: { href: string } };
  submitted_at?: string;
  /** The PR head commit the review was submitted on. */
  commit_id: string | null;
  author_association: string;
}

/** A repository role (role_name); `permission` is its legacy base role (maintain → write, triage → read). */
export type FakeRole = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  authorization?: string;
}

export interface FakeGithub {
  /** Base URL for GITHUB_API_URL. */
  url: string;
  owner: string;
  repo: string;
  requests: RecordedRequest[];
  /** issue/PR number → its comments, oldest first. */
  comments: Map<number, FakeComment[]>;
  pulls: FakePull[];
  /** Accepted workflow_dispatch requests, in order. */
  dispatches: { workflow: string; ref: string; inputs: Record<string, string> }[];
  /** pull number → its reviews, oldest first. */
  reviews: Map<number, FakeReview[]>;
  /** login → role on the repository (GET .../collaborators/{login}/permission). */
  roles: Map<string, FakeRole>;
  /** `sha256:<hex>` → the Sigstore bundles of its attestations (GET .../attestations/{subject_digest}). */
  attestations: Map<string, unknown[]>;
  /** Add a comment as someone else (to test pagination and markers). */
  addComment(issue: number, body: string, login?: string): FakeComment;
  /** Open a pull request as `user` from `headRepo` (default this repository; a fork: "someone/models"). */
  addPull(input: {
    head: string;
    sha: string;
    headRepo?: string | null;
    base?: string;
    user?: string;
  }): FakePull;
  /** Submit a review on pull `number` at commit `commitId`. */
  addReview(number: number, review: { login: string; state: FakeReviewState; commitId: string }): FakeReview;
  /**
   * Answer the next `times` requests (recorded, as GitHub logs them) with `status` and
   * GitHub's error body instead of serving them: a 502/503 as GitHub gives under load,
   * or a 403 rate limit with `headers` (x-ratelimit-remaining: 0, retry-after).
   */
  failNext(status: number, times?: number, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

export interface FakeGithubOptions {
  token: string;
  owner?: string;
  repo?: string;
  /** The next issue/PR number (default 1). */
  firstNumber?: number;
  /**
   * Workflow file → the inputs its `on.workflow_dispatch` declares: what a
   * dispatch may start (default: read from this repository's .github/workflows).
   */
  workflows?: Record<string, readonly string[]>;
}

/** The workflows of `dir` that a workflow_dispatch can start, with the inputs each declares. */
export function dispatchableWorkflows(dir = join(import.meta.dirname, '..', '.github', 'workflows')) {
  const out: Record<string, string[]> = {};
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    const doc = parse(readFileSync(join(dir, file), 'utf8')) as { on?: unknown };
    const on = doc.on;
    const triggers =
      typeof on === 'string'
        ? { [on]: null }
        : Array.isArray(on)
          ? Object.fromEntries(on.map((t) => [t, null]))
          : (on ?? {});
    if (!('workflow_dispatch' in (triggers as object))) continue;
    const wd = (triggers as Record<string, { inputs?: Record<string, unknown> } | null>).workflow_dispatch;
    out[file] = Object.keys(wd?.inputs ?? {});
  }
  return out;
}

const json = (res: ServerResponse, status: number, value?: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'x-github-api-version-selected': '2022-11-28',
    ...headers,
  });
  res.end(value === undefined ? '' : JSON.stringify(value));
};

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  return JSON.parse(text);
}

/** Start the fake on 127.0.0.1 (a free port). */
export async function startFakeGithub(options: FakeGithubOptions): Promise<FakeGithub> {
  const owner = options.owner ?? 'acme';
  const repo = options.repo ?? 'models';
  const comments = new Map<number, FakeComment[]>();
  const pulls: FakePull[] = [];
  const dispatches: FakeGithub['dispatches'] = [];
  let workflows: Record<string, readonly string[]> | undefined;
  const reviews = new Map<number, FakeReview[]>();
  const roles = new Map<string, FakeRole>();
  const attestations = new Map<string, unknown[]>();
  const requests: RecordedRequest[] = [];
  const failures: { status: number; headers: Record<string, string> }[] = [];
  let nextId = 1000;
  let nextNumber = options.firstNumber ?? 1;
  let url = '';
  const web = `https://github.com/${owner}/${repo}`;
  const now = () => new Date().toISOString();

  const makeComment = (issue: number, body: string, login: string): FakeComment => {
    const id = nextId++;
    const c: FakeComment = {
      id,
      node_id: `IC_${id}`,
      url: `${url}/repos/${owner}/${repo}/issues/comments/${id}`,
      html_url: `${web}/pull/${issue}#issuecomment-${id}`,
      issue_url: `${url}/repos/${owner}/${repo}/issues/${issue}`,
      body,
      user: { login, id: 41898282, type: login.endsWith('[bot]') ? 'Bot' : 'User' },
      created_at: now(),
      updated_at: now(),
      author_association: 'NONE',
    };
    const list = comments.get(issue) ?? [];
    list.push(c);
    comments.set(issue, list);
    return c;
  };

  const notFound = (res: ServerResponse) =>
    json(res, 404, {
      message: 'Not Found',
      documentation_url: 'https://docs.github.com/rest',
      status: '404',
    });
  const invalid = (res: ServerResponse, message: string, errors: unknown[] = []) =>
    json(res, 422, { message, errors, documentation_url: 'https://docs.github.com/rest', status: '422' });

  /** One page of `all` with GitHub's Link header (rel next/last/prev/first), per_page at most 100. */
  const paginated = (res: ServerResponse, u: URL, query: Record<string, string>, all: unknown[]) => {
    const perPage = Math.min(Number(query.per_page ?? 30) || 30, 100);
    const page = Math.max(Number(query.page ?? 1) || 1, 1);
    const last = Math.max(Math.ceil(all.length / perPage), 1);
    const links: string[] = [];
    const link = (p: number, rel: string) => {
      const l = new URL(`${url}${u.pathname}`);
      l.searchParams.set('per_page', String(perPage));
      l.searchParams.set('page', String(p));
      links.push(`<${l.href}>; rel="${rel}"`);
    };
    if (page < last) {
      link(page + 1, 'next');
      link(last, 'last');
    }
    if (page > 1) {
      link(page - 1, 'prev');
      link(1, 'first');
    }
    return json(
      res,
      200,
      all.slice((page - 1) * perPage, page * perPage),
      links.length ? { link: links.join(', ') } : {},
    );
  };

  const userOf = (login: string) => ({
    login,
    id: 1000 + login.length,
    type: login.endsWith('[bot]') ? 'Bot' : 'User',
  });

  const makePull = (input: {
    title: string;
    body: string | null;
    draft: boolean;
    head: string;
    sha: string;
    headRepo: string | null;
    base: string;
    user: string;
  }): FakePull => {
    const number = nextNumber++;
    const headOwner = input.headRepo?.split('/')[0] ?? owner;
    const pr: FakePull = {
      id: nextId++,
      number,
      url: `${url}/repos/${owner}/${repo}/pulls/${number}`,
      html_url: `${web}/pull/${number}`,
      state: 'open',
      title: input.title,
      body: input.body,
      draft: input.draft,
      user: userOf(input.user),
      head: {
        ref: input.head,
        label: `${headOwner}:${input.head}`,
        sha: input.sha,
        repo: input.headRepo === null ? null : { full_name: input.headRepo },
      },
      base: {
        ref: input.base,
        label: `${owner}:${input.base}`,
        sha: 'b'.repeat(40),
        repo: { full_name: `${owner}/${repo}` },
      },
      labels: [],
      created_at: now(),
    };
    pulls.push(pr);
    return pr;
  };

  const server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://fake');
      const query = Object.fromEntries(u.searchParams);
      let body: unknown;
      try {
        body = await readBody(req);
      } catch {
        json(res, 400, { message: 'Problems parsing JSON' });
        return;
      }
      const rec: RecordedRequest = { method: req.method ?? '', path: u.pathname, query, body };
      if (req.headers.authorization) rec.authorization = req.headers.authorization;
      requests.push(rec);
      const failure = failures.shift();
      if (failure) {
        json(
          res,
          failure.status,
          {
            message: failure.status >= 500 ? 'Server Error' : 'API rate limit exceeded',
            status: String(failure.status),
          },
          failure.headers,
        );
        return;
      }
      const auth = req.headers.authorization ?? '';
      if (auth !== `token ${options.token}` && auth !== `Bearer ${options.token}`) {
        json(res, 401, {
          message: 'Bad credentials',
          documentation_url: 'https://docs.github.com/rest',
          status: '401',
        });
        return;
      }
      const prefix = `/repos/${owner}/${repo}`;
      if (!u.pathname.startsWith(`${prefix}/`)) return notFound(res);
      const path = u.pathname.slice(prefix.length);
      const b = (body ?? {}) as Record<string, unknown>;
      const cm = /^\/issues\/(\d+)\/comments$/.exec(path);
      const um = /^\/issues\/comments\/(\d+)$/.exec(path);
      const pm = /^\/pulls\/(\d+)$/.exec(path);
      const lm = /^\/issues\/(\d+)\/labels$/.exec(path);
      if (cm) {
        const issue = Number(cm[1]);
        if (req.method === 'GET') return paginated(res, u, query, comments.get(issue) ?? []);
        if (req.method === 'POST') {
          if (typeof b.body !== 'string') return invalid(res, 'Invalid request.\n\n"body" wasn\'t supplied.');
          return json(res, 201, makeComment(issue, b.body, 'github-actions[bot]'));
        }
      }
      if (um && req.method === 'PATCH') {
        const id = Number(um[1]);
        const c = [...comments.values()].flat().find((x) => x.id === id);
        if (!c) return notFound(res);
        if (typeof b.body !== 'string') return invalid(res, 'Invalid request.\n\n"body" wasn\'t supplied.');
        c.body = b.body;
        c.updated_at = now();
        return json(res, 200, c);
      }
      if (path === '/pulls' && req.method === 'GET') {
        const state = query.state ?? 'open';
        const list = pulls.filter(
          (p) =>
            (state === 'all' || p.state === state) &&
            (!query.head || p.head.label === query.head) &&
            (!query.base || p.base.ref === query.base),
        );
        return json(res, 200, list);
      }
      if (path === '/pulls' && req.method === 'POST') {
        for (const f of ['title', 'head', 'base']) {
          if (typeof b[f] !== 'string' || !b[f]) {
            return invalid(res, 'Validation Failed', [
              { resource: 'PullRequest', field: f, code: 'missing_field' },
            ]);
          }
        }
        const head = String(b.head);
        const label = head.includes(':') ? head : `${owner}:${head}`;
        if (pulls.some((p) => p.state === 'open' && p.head.label === label && p.base.ref === b.base)) {
          return invalid(res, 'Validation Failed', [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: `A pull request already exists for ${label}.`,
            },
          ]);
        }
        const [headOwner, headRef] = label.split(':') as [string, string];
        const pr = makePull({
          title: String(b.title),
          body: typeof b.body === 'string' ? b.body : null,
          draft: b.draft === true,
          head: headRef,
          sha: '0'.repeat(40),
          headRepo: `${headOwner}/${repo}`,
          base: String(b.base),
          user: 'github-actions[bot]',
        });
        return json(res, 201, pr);
      }
      const rm = /^\/pulls\/(\d+)\/reviews$/.exec(path);
      const perm = /^\/collaborators\/([^/]+)\/permission$/.exec(path);
      const att = /^\/attestations\/([^/]+)$/.exec(path);
      if (att && req.method === 'GET') {
        const bundles = attestations.get(decodeURIComponent(att[1] as string)) ?? [];
        if (!bundles.length) return notFound(res);
        return json(res, 200, { attestations: bundles.map((bundle) => ({ bundle, repository_id: 1 })) });
      }
      if (pm && req.method === 'GET') {
        const pr = pulls.find((p) => p.number === Number(pm[1]));
        return pr ? json(res, 200, pr) : notFound(res);
      }
      if (rm && req.method === 'GET') {
        if (!pulls.some((p) => p.number === Number(rm[1]))) return notFound(res);
        return paginated(res, u, query, reviews.get(Number(rm[1])) ?? []);
      }
      if (perm && req.method === 'GET') {
        const login = decodeURIComponent(perm[1] as string);
        const role = roles.get(login);
        if (role === undefined) return notFound(res);
        const permission = role === 'maintain' ? 'write' : role === 'triage' ? 'read' : role;
        return json(res, 200, { permission, role_name: role, user: userOf(login) });
      }
      if (pm && req.method === 'PATCH') {
        const pr = pulls.find((p) => p.number === Number(pm[1]));
        if (!pr) return notFound(res);
        if (typeof b.title === 'string') pr.title = b.title;
        if (typeof b.body === 'string') pr.body = b.body;
        if (b.state === 'open' || b.state === 'closed') pr.state = b.state;
        return json(res, 200, pr);
      }
      if (lm && req.method === 'POST') {
        const pr = pulls.find((p) => p.number === Number(lm[1]));
        if (!pr) return notFound(res);
        const names = Array.isArray(b.labels) ? b.labels.map(String) : [];
        if (!names.length) return invalid(res, 'Invalid request.\n\nNo subschema in "anyOf" matched.');
        for (const name of names) {
          if (!pr.labels.some((l) => l.name === name)) {
            pr.labels.push({ id: nextId++, name, color: 'ededed', default: false });
          }
        }
        return json(res, 200, pr.labels);
      }
      const dispatch = /^\/actions\/workflows\/([^/]+)\/dispatches$/.exec(path);
      if (dispatch && req.method === 'POST') {
        const workflow = decodeURIComponent(dispatch[1]!);
        workflows ??= options.workflows ?? dispatchableWorkflows();
        const declared = workflows[workflow];
        if (!declared) return notFound(res);
        if (typeof b.ref !== 'string' || !b.ref) {
          return invalid(res, 'Invalid request.\n\n"ref" wasn\'t supplied.');
        }
        const inputs = (b.inputs ?? {}) as Record<string, string>;
        const unexpected = Object.keys(inputs).filter((k) => !declared.includes(k));
        if (unexpected.length)
          return invalid(res, `Unexpected inputs provided: ${JSON.stringify(unexpected)}`);
        dispatches.push({ workflow, ref: b.ref, inputs });
        res.writeHead(204);
        res.end();
        return;
      }
      return notFound(res);
    })().catch((e: unknown) => {
      json(res, 500, { message: (e as Error).message });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    owner,
    repo,
    requests,
    comments,
    pulls,
    dispatches,
    reviews,
    roles,
    attestations,
    addComment: (issue, body, login = 'octocat') => makeComment(issue, body, login),
    addPull: (input) =>
      makePull({
        title: `change ${input.head}`,
        body: null,
        draft: false,
        head: input.head,
        sha: input.sha,
        headRepo: input.headRepo === undefined ? `${owner}/${repo}` : input.headRepo,
        base: input.base ?? 'main',
        user: input.user ?? 'contributor',
      }),
    addReview: (number, r) => {
      const id = nextId++;
      const review: FakeReview = {
        id,
        node_id: `PRR_${id}`,
        user: userOf(r.login),
        body: '',
        state: r.state,
        html_url: `${web}/pull/${number}#pullrequestreview-${id}`,
        pull_request_url: `${url}/repos/${owner}/${repo}/pulls/${number}`,
        _links: {
          html: { href: `${web}/pull/${number}#pullrequestreview-${id}` },
          pull_request: { href: `${url}/repos/${owner}/${repo}/pulls/${number}` },
        },
        ...(r.state === 'PENDING' ? {} : { submitted_at: now() }),
        commit_id: r.commitId,
        author_association: 'MEMBER',
      };
      const list = reviews.get(number) ?? [];
      list.push(review);
      reviews.set(number, list);
      return review;
    },
    failNext: (status, times = 1, headers = {}) => {
      for (let i = 0; i < times; i++) failures.push({ status, headers });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
