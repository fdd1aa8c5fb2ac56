// Rich gRPC errors (https://google.aip.dev/193): INVALID_ARGUMENT carries a google.rpc.Status with one
// google.rpc.BadRequest in the binary trailer `grpc-status-details-bin`.
import { BadRequest } from './gen/google/rpc/error_details';
import { Status } from './gen/google/rpc/status';

export const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
/** Metadata key (binary, hence `-bin`) of the serialized google.rpc.Status. */
export const STATUS_DETAILS_METADATA_KEY = 'grpc-status-details-bin';
const INVALID_ARGUMENT = 3;

export interface FieldViolation {
  field: string;
  description: string;
}

/** A serialized google.rpc.Status{code: INVALID_ARGUMENT, message, details: [BadRequest{violations}]}. */
export function encodeBadRequest(violations: readonly FieldViolation[], message: string): Buffer {
  const badRequest = BadRequest.encode({
    fieldViolations: violations.map(({ field, description }) => ({ field, description })),
  }).finish();
  const status = Status.encode({
    code: INVALID_ARGUMENT,
    message,
    details: [{ typeUrl: BAD_REQUEST_TYPE_URL, value: Buffer.from(badRequest) }],
  }).finish();
  return Buffer.from(status.buffer, status.byteOffset, status.byteLength);
}

/** The field violations of every google.rpc.BadRequest in a serialized google.rpc.Status; [] when there is none. */
export function decodeBadRequest(buf: Uint8Array): FieldViolation[] {
  const status = Status.decode(buf);
  return status.details
    .filter((detail) => detail.typeUrl === BAD_REQUEST_TYPE_URL)
    .flatMap((detail) => BadRequest.decode(detail.value).fieldViolations)
    .map(({ field, description }) => ({ field, description }));
}
