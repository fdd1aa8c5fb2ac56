import { CURRENCY } from './pricing';

/** A product as stored: its price and its stock on hand now. */
export interface ProductRecord {
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  initialStock: number;
  onHand: number;
}

/** Where a product's stock is: on hand, held by reservations, committed to approved orders. */
export interface StockLevelRecord {
  sku: string;
  initialStock: number;
  onHand: number;
  reserved: number;
  committed: number;
}

export interface CatalogProduct {
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  initialStock: number;
}

/**
 * Seeded on first start (existing rows are left alone). Some entries are load-bearing for demos and tests, see
 * README.md: SKU-0001 (large stock), SKU-0007 (scarce, 5), SKU-0010 (above the default credit limit), SKU-0012 (0).
 */
export const SEED_CATALOG: readonly CatalogProduct[] = [
  { sku: 'SKU-0001', name: 'House Espresso Beans 1 kg', priceCents: 1999, initialStock: 100_000 },
  { sku: 'SKU-0002', name: 'Ceramic Pour-Over Dripper', priceCents: 2499, initialStock: 500 },
  { sku: 'SKU-0003', name: 'Paper Filters, pack of 100', priceCents: 599, initialStock: 2000 },
  { sku: 'SKU-0004', name: 'Conical Burr Grinder', priceCents: 8999, initialStock: 150 },
  { sku: 'SKU-0005', name: 'Gooseneck Kettle 1 L', priceCents: 5499, initialStock: 200 },
  { sku: 'SKU-0006', name: 'Double-Wall Glass Mug', priceCents: 1499, initialStock: 800 },
  { sku: 'SKU-0007', name: 'Geisha Micro-Lot Beans 250 g (limited)', priceCents: 4999, initialStock: 5 },
  { sku: 'SKU-0008', name: 'Milk Frothing Pitcher 600 ml', priceCents: 1899, initialStock: 300 },
  { sku: 'SKU-0009', name: 'Digital Brew Scale', priceCents: 3499, initialStock: 250 },
  { sku: 'SKU-0010', name: 'Dual-Boiler Espresso Machine', priceCents: 129_900, initialStock: 50 },
  { sku: 'SKU-0011', name: 'Cold Brew Bottle 1 L', priceCents: 2299, initialStock: 400 },
  { sku: 'SKU-0012', name: 'Travel Espresso Maker', priceCents: 6999, initialStock: 0 },
].map((p) => ({ ...p, currency: CURRENCY }));
