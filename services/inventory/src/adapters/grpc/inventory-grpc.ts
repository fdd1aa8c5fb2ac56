import type { BackendContext, grpc } from '@shop/platform';
import { Status, grpcHandlers } from '@shop/platform';
import { inventoryV1, ServiceNames } from '@shop/contracts';
import { getProduct, listProducts, listStockLevels, quoteItems } from '../../app/read-catalog';
import type { DomainErrorCode } from '../../domain/errors';
import { DomainError } from '../../domain/errors';
import type { ProductRecord } from '../../domain/catalog';

/** The one table mapping domain error codes to gRPC status codes. */
const GRPC_STATUS_OF: Record<DomainErrorCode, grpc.status> = {
  VALIDATION_FAILED: Status.INVALID_ARGUMENT,
  PRODUCT_NOT_FOUND: Status.NOT_FOUND,
  STOCK_INVALID_TRANSITION: Status.FAILED_PRECONDITION,
};

const toProduct = (p: ProductRecord): inventoryV1.Product => ({
  sku: p.sku,
  name: p.name,
  priceCents: p.priceCents,
  currency: p.currency,
  available: p.onHand,
});

export function inventoryGrpcService(ctx: BackendContext) {
  // Reads take the pool: one statement each, no unit of work needed.
  const catalog = ctx.pool;
  const { unary } = grpcHandlers({ logger: ctx.logger, errorType: DomainError, statusOf: GRPC_STATUS_OF });

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
