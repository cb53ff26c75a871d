ALTER TABLE `ahenk_cursors` ADD `acked` integer;--> statement-breakpoint
ALTER TABLE `ahenk_peers` ADD `last_sent` integer;--> statement-breakpoint
ALTER TABLE `ahenk_peers` ADD `last_received` integer;