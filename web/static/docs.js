// The interactive API page at /docs: Swagger UI (served by the worker from the swagger-ui-bundle-v2
// package, no CDN) on this worker's /openapi.json. "Authorize" takes the bearer tokens
// (docs/security.md); the online validator badge is off, so the page contacts no other host.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
