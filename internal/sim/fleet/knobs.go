package fleet

// Merge returns k overridden field by field by o (nil o: k unchanged).
// Pointer fields of o override when non-nil, TimeScale when non-zero,
// Faults and DenyAPIs when non-nil (an empty list clears the inherited
// ones), and the
// boolean switches when true.
func (k Knobs) Merge(o *Knobs) Knobs {
	if o == nil {
		return k
	}
	if o.Latency != nil {
		k.Latency = o.Latency
	}
	if o.Throttle != nil {
		k.Throttle = o.Throttle
	}
	if o.TimeScale != 0 {
		k.TimeScale = o.TimeScale
	}
	if o.ApplyDelay != nil {
		k.ApplyDelay = o.ApplyDelay
	}
	if o.Faults != nil {
		k.Faults = o.Faults
	}
	k.AuthFailure = k.AuthFailure || o.AuthFailure
	k.UnauthorizedOperation = k.UnauthorizedOperation || o.UnauthorizedOperation
	k.CloudWatchDenied = k.CloudWatchDenied || o.CloudWatchDenied
	k.DenyModify = k.DenyModify || o.DenyModify
	k.AutoScalingDenied = k.AutoScalingDenied || o.AutoScalingDenied
	if o.DenyAPIs != nil {
		k.DenyAPIs = o.DenyAPIs
	}
	return k
}
