/** The total of a cart in cents: the sum of each item's price times its quantity. */
export function total(items) {
  let cents = 0;
  for (const item of items) {
    if (!Number.isInteger(item.cents) || !Number.isInteger(item.quantity) || item.quantity < 0) {
      throw new RangeError(`bad item: ${JSON.stringify(item)}`);
    }
    cents += item.cents * item.quantity;
  }
  return cents;
}
