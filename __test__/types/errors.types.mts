// Type-level tests, checked by `npm run typecheck` (never run): each `@ts-expect-error` line must
// fail to compile, or tsc reports the directive as unused; everything else must compile.
import { ErrorCodes, OpenMlsError, isErrorCode, type ErrorCode, type ProcessedMessage } from 'openmls-node'

// ErrorCode is a union of the generated string literals.
const wrongEpoch: ErrorCode = 'ERR_WRONG_EPOCH'
// @ts-expect-error not an error code
const notACode: ErrorCode = 'ERR_NOT_A_CODE'
// @ts-expect-error codes are upper-case strings, not numbers
const numeric: ErrorCode = 1

// The constructor takes only codes.
new OpenMlsError('ERR_STORAGE_FULL', 'full')
// @ts-expect-error a code that does not exist
new OpenMlsError('ERR_FULL', 'full')

// OpenMlsError.is narrows to the class, and to the one code when given.
declare const caught: unknown
if (OpenMlsError.is(caught, 'ERR_WRONG_EPOCH')) {
  const code: 'ERR_WRONG_EPOCH' = caught.code
  // @ts-expect-error narrowed to ERR_WRONG_EPOCH
  const other: 'ERR_STORAGE_FULL' = caught.code
  void code, other
}
if (OpenMlsError.is(caught)) {
  const code: ErrorCode = caught.code
  // @ts-expect-error any code, not one
  const one: 'ERR_WRONG_EPOCH' = caught.code
  void code, one
}
// @ts-expect-error the second argument must be a code
OpenMlsError.is(caught, 'ERR_NOPE')

// isErrorCode narrows strings; ErrorCodes holds codes.
declare const text: string
if (isErrorCode(text)) {
  const code: ErrorCode = text
  void code
}
const fromTable: ErrorCode | undefined = ErrorCodes.WrongEpoch

// ProcessedMessage is a discriminated union on `type` (and on the deprecated `kind`).
declare const processed: ProcessedMessage
if (processed.type === 'application') {
  const data: Uint8Array = processed.data
  void data
} else {
  // @ts-expect-error only application messages carry data
  void processed.data
}

void wrongEpoch, notACode, numeric, fromTable
