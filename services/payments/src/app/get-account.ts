import type { Queryable } from '@shop/platform';
import { findAccount } from '../adapters/db/repository';
import { DomainError, validationFailed } from '../domain/errors';
import type { Account } from '../domain/payment';
import { validateCustomerId } from '../domain/validation';

export async function getAccount(db: Queryable, customerId: string): Promise<Account> {
  const violations = validateCustomerId(customerId);
  if (violations.length > 0) throw validationFailed(violations);
  const account = await findAccount(db, customerId);
  if (!account) throw new DomainError('ACCOUNT_NOT_FOUND', 'no account: this customer has never been seen');
  return account;
}
