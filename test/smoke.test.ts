import { describe, expect, it } from 'vitest';
import { getOplogEntriesSince, merge } from '../src/index.ts';
import { dump, openDevice } from './helpers/db.ts';
import { todos } from './helpers/schema.ts';

describe('smoke', () => {
  it('syncs two devices', () => {
    const a = openDevice('a');
    const b = openDevice('b');
    a.insert(todos).values({ id: 't1', title: 'milk', done: 0 }).run();
    b.insert(todos).values({ id: 't2', title: 'bread', done: 1, data: Buffer.from([1, 2, 3]) }).run();
    const ea = getOplogEntriesSince(a);
    const eb = getOplogEntriesSince(b);
    console.log(ea.entries, eb.entries);
    merge(b, ea.entries);
    merge(a, eb.entries);
    expect(dump(a, 'todos')).toEqual(dump(b, 'todos'));
    expect(dump(a, 'todos')).toHaveLength(2);
  });
});
