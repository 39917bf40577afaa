/** `npm run init`: make a fresh fork of the template its own (./init.ts). */
export {
  type ForkNames,
  forkNames,
  INIT_DIR,
  type InitOptions,
  type InitResult,
  initRepository,
  PLACEHOLDERS,
  placeholderLines,
  replacePlaceholders,
} from './init.ts';
