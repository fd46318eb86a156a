import { describe, expect, it } from 'vitest';
import { dmRoomId, groupRoomId, isPrivateRoom, roomKind, roomLabel, roomMembers } from './types';

describe('room ids', () => {
  it('makes group room ids of 3 to 8 distinct users, sorted', () => {
    expect(groupRoomId(['carol', 'alice', 'bob'])).toBe('gdm:alice_bob_carol');
    expect(groupRoomId(['bob', 'alice', 'bob', 'carol'])).toBe('gdm:alice_bob_carol');
    expect(groupRoomId(['alice', 'bob'])).toBeUndefined();
    expect(groupRoomId(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'])).toBeUndefined();
    expect(groupRoomId(['alice', 'bob', 'Not Valid'])).toBeUndefined();
  });

  it('tells the kind and the members of a room', () => {
    expect(roomKind('general')).toBe('public');
    expect(roomKind(dmRoomId('bob', 'alice'))).toBe('dm');
    expect(roomKind('gdm:alice_bob_carol')).toBe('group');
    expect(roomMembers('gdm:alice_bob_carol')).toEqual(['alice', 'bob', 'carol']);
    expect(roomMembers('dm:alice_bob')).toEqual(['alice', 'bob']);
    expect(roomMembers('general')).toEqual([]);
    expect(isPrivateRoom('gdm:alice_bob_carol')).toBe(true);
    expect(isPrivateRoom('general')).toBe(false);
  });

  it('names a group by its other members', () => {
    expect(roomLabel('gdm:alice_bob_carol', 'bob')).toBe('alice, carol');
    expect(roomLabel('gdm:alice_bob_carol', 'dave')).toBe('gdm:alice_bob_carol');
    expect(roomLabel('dm:alice_bob', 'bob')).toBe('alice');
    expect(roomLabel('general', 'bob')).toBe('general');
  });
});
