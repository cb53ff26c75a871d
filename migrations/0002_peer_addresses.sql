CREATE TABLE `ahenk_peer_addresses` (
	`peer_id` text NOT NULL,
	`address` text NOT NULL,
	`learned_at` integer NOT NULL,
	`last_ok` integer,
	`failures` integer DEFAULT 0 NOT NULL,
	`last_failure` integer,
	`last_error` text,
	PRIMARY KEY(`peer_id`, `address`)
);
--> statement-breakpoint
-- Addresses remembered before this table existed (a JSON array per peer, most recent first) are
-- kept, learned at the peer's last sighting; a damaged array is skipped, not fatal. Only the first
-- 16 entries of an array (MAX_ADDRESSES_PER_PEER) and only strings of 1 to 512 characters.
INSERT OR IGNORE INTO `ahenk_peer_addresses` (`peer_id`, `address`, `learned_at`)
  SELECT p.`peer_id`, j.`value`, coalesce(p.`last_seen`, 0) - j.`key`
  FROM `ahenk_peers` p, json_each(CASE WHEN json_valid(p.`addresses`) THEN p.`addresses` ELSE '[]' END) j
  WHERE j.`type` = 'text' AND typeof(j.`key`) = 'integer' AND j.`key` BETWEEN 0 AND 15
    AND length(j.`value`) BETWEEN 1 AND 512;
--> statement-breakpoint
ALTER TABLE `ahenk_peers` DROP COLUMN `addresses`;