export { ERROR_CODES, type ErrorCode } from './codes.js';
export { MimoeError, isMimoeError } from './mimoe-error.js';
export { isDiskFull } from './disk-full.js';
