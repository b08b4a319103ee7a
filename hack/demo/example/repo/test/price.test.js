import assert from 'node:assert/strict';
import { test } from 'node:test';
import { total } from '../src/price.js';

test('total sums price times quantity', () => {
  assert.equal(total([{ cents: 250, quantity: 2 }, { cents: 100, quantity: 1 }]), 600);
});

test('an empty cart costs nothing', () => {
  assert.equal(total([]), 0);
});

test('a negative quantity is refused', () => {
  assert.throws(() => total([{ cents: 100, quantity: -1 }]), RangeError);
});
