/** Model signatures (docs/signing.md): the statement, the policy in Git, signing and verifying. */

export * from './local-key.ts';
export * from './policy.ts';
export * from './sign.ts';
export * from './statement.ts';
export * from './trusted-root.ts';
export * from './verify.ts';
