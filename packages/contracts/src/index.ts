// Public API of @shop/contracts. Generated code is exposed per proto package as a namespace, e.g.
// `ordersV1.OrderServiceService` (grpc-js definition) or `messagingV1.Envelope` (type and codec object).
export * as ordersV1 from './gen/orders/v1/orders';
export * as inventoryV1 from './gen/inventory/v1/inventory';
export * as paymentsV1 from './gen/payments/v1/payments';
export * as messagingV1 from './messaging';
export * as googleRpc from './google-rpc';

export type { Envelope } from './gen/messaging/v1/envelope';
export * from './topics';
export * from './envelope';
export * from './rich-errors';
export * from './proto-files';
export * from './versions';
export * as rules from './rules';
