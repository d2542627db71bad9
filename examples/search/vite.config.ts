// `npx vite examples/search`: the chat example's aliases (emberlm -> the library's sources) and allowed folders.
export { default } from '../chat/vite.config.ts';
