import { ApiError } from '../errors.ts';

/** The error answer of a fail-closed action whose record could not be stored. */
export const REQUIRED_RECORD_UNAVAILABLE = new ApiError(
  503,
  'api_error',
  'The action could not be recorded in the audit trail, so it is reported as not completed; try again later.',
  'audit_trail',
);

/** `REQUIRED_RECORD_UNAVAILABLE` as the JSON body an adapter sends. */
export const REQUIRED_RECORD_UNAVAILABLE_BODY = JSON.stringify(REQUIRED_RECORD_UNAVAILABLE.toJSON());

/** The content type of the 503 answer. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** The 503 of a fail-closed action as a Web `Response`, for adapters built on `Response`. */
export function requiredRecordUnavailable(): Response {
  return new Response(REQUIRED_RECORD_UNAVAILABLE_BODY, {
    status: REQUIRED_RECORD_UNAVAILABLE.status,
    headers: { 'content-type': JSON_CONTENT_TYPE },
  });
}
