// Every generated type of the messaging.v1 package, as one namespace.
export * from './gen/messaging/v1/envelope';
export * from './gen/messaging/v1/inventory_messages';
export * from './gen/messaging/v1/payments_messages';
export * from './gen/messaging/v1/orders_messages';
