/** esbuild bundles the page's stylesheet into the HTML file (viewer/html.ts). */
declare module '*.css';
