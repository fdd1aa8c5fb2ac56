/** Domain errors carry a stable code and no transport status; each transport maps codes in one table. */
export type DomainErrorCode = 'PAYMENT_INVALID_TRANSITION' | 'ACCOUNT_NOT_FOUND' | 'VALIDATION_FAILED';

export interface Violation {
  field: string;
  description: string;
}

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
