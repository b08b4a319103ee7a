// Example artifact for `npm start`: a tiny service an agent might have changed.
export function greet(name) {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('name must be a non-empty string');
  return `Hello, ${name}!`;
}
