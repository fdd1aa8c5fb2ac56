import type { grpc as grpcNs, BackendContext, GrpcError } from '@shop/platform';
import { Status, errorMessage, grpcError, invalidArgument } from '@shop/platform';
import { inventoryV1, ServiceNames } from '@shop/contracts';
import { getProduct, listProducts, listStockLevels, quoteItems } from '../../app/read-catalog';
import type { DomainErrorCode } from '../../domain/errors';
import { DomainError } from '../../domain/errors';
import type { ProductRecord } from '../../domain/ports';
import { PgInventoryStore } from '../db/pg-inventory-store';

// The one mapping of domain error codes to gRPC status for this transport.
const STATUS_OF: Record<DomainErrorCode, (err: DomainError) => GrpcError> = {
  INVALID_INPUT: (err) => invalidArgument([...err.violations]),
  PRODUCT_NOT_FOUND: (err) => grpcError(Status.NOT_FOUND, err.message),
  STOCK_INVALID_TRANSITION: (err) => grpcError(Status.FAILED_PRECONDITION, err.message),
};

const toProduct = (p: ProductRecord): inventoryV1.Product => ({
  sku: p.sku,
  name: p.name,
  priceCents: p.priceCents,
  currency: p.currency,
  available: p.onHand,
});

export function inventoryGrpcService(ctx: BackendContext) {
  const catalog = new PgInventoryStore(ctx.pool);

  const unary =
    <Req, Res>(method: string, fn: (req: Req) => Promise<Res>) =>
    (call: grpcNs.ServerUnaryCall<Req, Res>, callback: grpcNs.sendUnaryData<Res>) => {
      fn(call.request).then(
        (res) => callback(null, res),
        (err: unknown) => {
          if (err instanceof DomainError) {
            callback(STATUS_OF[err.code](err));
            return;
          }
          ctx.logger.error({ err: errorMessage(err), method, code: 'INTERNAL' }, 'gRPC handler failed');
          callback(grpcError(Status.INTERNAL, 'internal error'));
        },
      );
    };

  const implementation: inventoryV1.InventoryServiceServer = {
    listProducts: unary('ListProducts', async () => ({
      products: (await listProducts(catalog)).map(toProduct),
    })),
    getProduct: unary('GetProduct', async (req: inventoryV1.GetProductRequest) => ({
      product: toProduct(await getProduct(catalog, req.sku)),
    })),
    quoteItems: unary('QuoteItems', async (req: inventoryV1.QuoteItemsRequest) => {
      const q = await quoteItems(
        catalog,
        req.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
      );
      return { lines: q.lines, totalCents: q.totalCents, currency: q.currency };
    }),
    listStockLevels: unary('ListStockLevels', async () => ({ levels: await listStockLevels(catalog) })),
  };

  return { name: ServiceNames.inventory, definition: inventoryV1.InventoryServiceService, implementation };
}
