package report

import "hash/fnv"

// MaxShards is the largest N of scan --shard I/N, and of any shard a
// report may record: readers loop over the N shards (merge names the
// missing ones), so a report claiming billions is refused on read.
const MaxShards = 10000

// ShardOf returns the shard (1..count) account belongs to under scan
// --shard I/count: the FNV-1a 32-bit hash of its id modulo count, plus
// one. It depends on the id alone, so an account stays in its shard when
// others are added or removed, and N jobs with --shard 1/N … N/N cover
// every account once.
func ShardOf(account string, count int) int {
	if count <= 1 {
		return 1
	}
	h := fnv.New32a()
	h.Write([]byte(account))
	return int(h.Sum32()%uint32(count)) + 1
}
