/** A rejected input field, named the way the caller spelled it (e.g. `items[2].quantity`). */
export interface Violation {
  field: string;
  description: string;
}

/** Stable codes; each transport maps them to its own status in one table. */
export type DomainErrorCode = 'VALIDATION_FAILED' | 'PRODUCT_NOT_FOUND' | 'STOCK_INVALID_TRANSITION';

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly violations: readonly Violation[] = [],
  ) {
    super(message);
  }
}

export function validationFailed(violations: readonly Violation[]): DomainError {
  return new DomainError(
    'VALIDATION_FAILED',
    violations.map((v) => `${v.field}: ${v.description}`).join('; '),
    violations,
  );
}
