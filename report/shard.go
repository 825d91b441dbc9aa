package report

import "hash/fnv"

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
