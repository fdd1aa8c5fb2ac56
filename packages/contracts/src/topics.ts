// Kafka topics of the platform (docs/architecture.md, "Kafka topics"). The project creates them explicitly; broker
// auto-creation is off. Every message is keyed by order id, so one order's messages stay in order on one partition.

export const MessageTypes = {
  ReserveStock: 'inventory.ReserveStock.v1',
  ReleaseStock: 'inventory.ReleaseStock.v1',
  CommitStock: 'inventory.CommitStock.v1',
  StockReserved: 'inventory.StockReserved.v1',
  StockRejected: 'inventory.StockRejected.v1',
  StockReleased: 'inventory.StockReleased.v1',
  StockCommitted: 'inventory.StockCommitted.v1',
  AuthorizePayment: 'payments.AuthorizePayment.v1',
  RefundPayment: 'payments.RefundPayment.v1',
  PaymentAuthorized: 'payments.PaymentAuthorized.v1',
  PaymentDeclined: 'payments.PaymentDeclined.v1',
  PaymentRefunded: 'payments.PaymentRefunded.v1',
  OrderPlaced: 'orders.OrderPlaced.v1',
  OrderApproved: 'orders.OrderApproved.v1',
  OrderRejected: 'orders.OrderRejected.v1',
  OrderCancelled: 'orders.OrderCancelled.v1',
} as const;

export type MessageType = (typeof MessageTypes)[keyof typeof MessageTypes];

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
}

export interface ApplicationTopic extends TopicSpec {
  /** Message types that may be published to this topic. */
  readonly messageTypes: readonly MessageType[];
}

/** Partitions of every topic, dead-letter topics included. */
export const TOPIC_PARTITIONS = 3;

export const TOPICS = [
  {
    name: 'inventory.commands.v1',
    partitions: TOPIC_PARTITIONS,
    messageTypes: [MessageTypes.ReserveStock, MessageTypes.ReleaseStock, MessageTypes.CommitStock],
  },
  {
    name: 'inventory.replies.v1',
    partitions: TOPIC_PARTITIONS,
    messageTypes: [
      MessageTypes.StockReserved,
      MessageTypes.StockRejected,
      MessageTypes.StockReleased,
      MessageTypes.StockCommitted,
    ],
  },
  {
    name: 'payments.commands.v1',
    partitions: TOPIC_PARTITIONS,
    messageTypes: [MessageTypes.AuthorizePayment, MessageTypes.RefundPayment],
  },
  {
    name: 'payments.replies.v1',
    partitions: TOPIC_PARTITIONS,
    messageTypes: [
      MessageTypes.PaymentAuthorized,
      MessageTypes.PaymentDeclined,
      MessageTypes.PaymentRefunded,
    ],
  },
  {
    name: 'orders.events.v1',
    partitions: TOPIC_PARTITIONS,
    messageTypes: [
      MessageTypes.OrderPlaced,
      MessageTypes.OrderApproved,
      MessageTypes.OrderRejected,
      MessageTypes.OrderCancelled,
    ],
  },
] as const satisfies readonly ApplicationTopic[];

export type TopicName = (typeof TOPICS)[number]['name'];

/** Named constants for the topics, e.g. `Topics.inventoryCommands === 'inventory.commands.v1'`. */
export const Topics = {
  inventoryCommands: 'inventory.commands.v1',
  inventoryReplies: 'inventory.replies.v1',
  paymentsCommands: 'payments.commands.v1',
  paymentsReplies: 'payments.replies.v1',
  ordersEvents: 'orders.events.v1',
} as const satisfies Record<string, TopicName>;

/** Dead-letter topic of a topic: where a message that cannot be processed goes, with `x-dlt-reason`. */
export function dltTopic<T extends string>(name: T): `${T}.dlt` {
  return `${name}.dlt`;
}

/** Header carrying the reason a message was dead-lettered. */
export const DLT_REASON_HEADER = 'x-dlt-reason';

/** Every topic the project creates: the application topics followed by their dead-letter topics. */
export const ALL_TOPICS: readonly TopicSpec[] = [
  ...TOPICS.map(({ name, partitions }) => ({ name, partitions })),
  ...TOPICS.map(({ name, partitions }) => ({ name: dltTopic(name), partitions })),
];

const TOPIC_BY_TYPE: ReadonlyMap<string, TopicName> = new Map(
  TOPICS.flatMap((topic) => topic.messageTypes.map((type): [string, TopicName] => [type, topic.name])),
);

export function isMessageType(value: string): value is MessageType {
  return TOPIC_BY_TYPE.has(value);
}

/** The topic a message type is published to. */
export function topicOf(type: MessageType): TopicName {
  const topic = TOPIC_BY_TYPE.get(type);
  if (topic === undefined) throw new Error(`no topic carries message type ${type}`);
  return topic;
}
