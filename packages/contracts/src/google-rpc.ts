// The google.rpc declarations (minimal) as one namespace.
export * from './gen/google/rpc/status';
export * from './gen/google/rpc/error_details';
