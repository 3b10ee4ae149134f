/** Online conversion of unpartitioned tables into a pgparts family: see docs/conversion.md. */
export { type AbandonOptions, convertAbandon } from './abandon.js';
export { type BatchProgress, convertBackfill, type ProgressListener } from './backfill.js';
export { convertCleanup } from './cleanup.js';
export { convertFill, type FillResult } from './fill.js';
export { type AfterSwitch, pendingAfterSwitch } from './post-switch.js';
export { type ConvertStepResult, convertPrep, type PrepOptions, type PrepResult } from './prep.js';
export { type ConversionState, readState as readConversionState } from './state.js';
export { convertSwap, type SwitchResult } from './swap.js';
export {
  type BatchOptions,
  type ConversionTarget,
  conversionTarget,
  type SwapOptions,
  type VerifyOptions,
} from './target.js';
export { convertUnswap } from './unswap.js';
export {
  convertVerify,
  formatVerifyReport,
  type GroupDifference,
  type TableVerification,
  type VerifyReport,
} from './verify.js';
