// /docs: openapi.yaml of this gateway rendered by swagger-ui (served from node_modules by the gateway; no CDN).
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: '/openapi.yaml',
  dom_id: '#swagger-ui',
  deepLinking: true,
  tryItOutEnabled: false,
});
