/** A field that failed validation, named as in the request (e.g. `items[2].quantity`). */
export interface Violation {
  field: string;
  description: string;
}

export type DomainErrorCode =
  | 'VALIDATION_FAILED'
  | 'ORDER_NOT_FOUND'
  | 'ORDER_INVALID_TRANSITION'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'INVENTORY_UNAVAILABLE'
  | 'INVENTORY_QUOTE_INVALID'
  | 'TOO_MANY_WATCHERS';

/** Errors of the orders domain carry a stable code and no transport status (each transport maps codes once). */
export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly violations: Violation[] = [],
  ) {
    super(message);
  }
}

export const validationFailed = (violations: Violation[]) =>
  new DomainError(
    'VALIDATION_FAILED',
    violations.map((v) => `${v.field}: ${v.description}`).join('; '),
    violations,
  );
