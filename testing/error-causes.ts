/**
 * Test helper: every `new ProjectError(...)` made while handling a caught
 * error (in a `catch (e)` block, a `.catch((e) => ...)` callback or an
 * `on('error', (e) => ...)` listener) must pass what it caught as `cause`
 * (CONTRIBUTING.md: errors are `ProjectError`s that keep the cause). Parsed with swc, the parser
 * jest already runs. A `catch` without a binding is a choice not to keep the
 * error, with a comment saying why, and is not checked.
 */
import { parseSync } from '@swc/core';

type Node = { type?: string; span?: { start: number }; [key: string]: unknown };

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null;
const isFunction = (n: unknown): n is Node & { params: unknown[] } =>
  isNode(n) && (n.type === 'ArrowFunctionExpression' || n.type === 'FunctionExpression');
const argAt = (call: Node, i: number): Node | undefined =>
  (call.arguments as { expression: Node }[] | undefined)?.[i]?.expression;

/** A callback that receives a caught error: `.catch((e) => ...)`, `.on('error', (e) => ...)`. */
function errorHandlerOf(call: Node): Node | undefined {
  const callee = call.callee as Node;
  if (callee?.type !== 'MemberExpression') return undefined;
  const name = (callee.property as Node)?.value;
  const [first, second] = [argAt(call, 0), argAt(call, 1)];
  if (name === 'catch' && isFunction(first) && first.params.length > 0) return first;
  const onError =
    (name === 'on' || name === 'once') && first?.type === 'StringLiteral' && first.value === 'error';
  if (onError && isFunction(second) && second.params.length > 0) return second;
  return undefined;
}

/** Does the options argument of `new ProjectError(code, message, options)` name a cause? */
function passesCause(created: Node): boolean {
  const options = argAt(created, 2);
  if (options?.type !== 'ObjectExpression') return false;
  return (options.properties as Node[]).some(
    (p) =>
      p.type === 'SpreadElement' || // cannot tell: accept
      (p.type === 'Identifier' && p.value === 'cause') ||
      (p.type === 'KeyValueProperty' && (p.key as Node).value === 'cause'),
  );
}

/** `<file>:<line>` of each ProjectError made while handling a caught error without passing it as cause. */
export function uncausedProjectErrors(source: string, file: string): string[] {
  const bytes = Buffer.from(source);
  const lineOf = (n: Node) =>
    bytes
      .subarray(0, (n.span?.start ?? 1) - 1)
      .toString()
      .split('\n').length;
  const found: string[] = [];
  const walk = (v: unknown, handling: boolean): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x, handling);
      return;
    }
    if (!isNode(v)) return;
    if (v.type === 'CatchClause') {
      walk(v.body, handling || v.param != null);
      return;
    }
    if (v.type === 'CallExpression') {
      const handler = errorHandlerOf(v);
      if (handler) {
        walk(handler.body, true);
        for (const [k, x] of Object.entries(v)) if (k !== 'arguments') walk(x, handling);
        walk(
          (v.arguments as Node[]).filter((a) => a.expression !== handler),
          handling,
        );
        return;
      }
    }
    if (
      handling &&
      v.type === 'NewExpression' &&
      (v.callee as Node)?.type === 'Identifier' &&
      (v.callee as Node).value === 'ProjectError' &&
      !passesCause(v)
    ) {
      found.push(`${file}:${lineOf(v)}`);
    }
    for (const [k, x] of Object.entries(v)) if (k !== 'span') walk(x, handling);
  };
  walk(parseSync(source, { syntax: 'typescript' }).body, false);
  return found;
}
