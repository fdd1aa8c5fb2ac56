import { runMain } from '@shop/platform';
import { schema } from './config';
import { createService } from './service';

runMain({ name: 'payments', about: 'customer credit accounts and payments', schema, create: createService });
