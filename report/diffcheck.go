package report

import (
	"errors"
	"fmt"
)

// ErrDiff is wrapped by every refusal of [CheckComparable]: the two
// reports are not scans of one fleet, so no diff of them means anything.
var ErrDiff = errors.New("reports cannot be compared")

// CheckComparable refuses to compare scans of two fleets, with one line
// naming both reports, both sides and what to compare instead (wrapping
// [ErrDiff]): reports of two partitions (aws, aws-us-gov, aws-cn), or of
// two organizations (organization.id; in a report that does not record
// it, written by an older imdsfleet, the root the walk found). A diff
// follows one fleet's migration: another partition's accounts are other
// accounts, and accounts moved to another organization start a new
// baseline with its first scan. A report that records no
// partition (an older imdsfleet) is not compared on it. A scan of an
// organization and one of plain accounts (--accounts) may be compared:
// they can be the same accounts, scanned two ways, and what only one
// scanned is "unscanned" already.
func CheckComparable(oldName string, old *Report, newName string, new *Report) error {
	if po, pn := old.Partition, new.Partition; po != "" && pn != "" && po != pn {
		return fmt.Errorf("%w: the old report %s was scanned in partition %s and the new report %s in partition %s: their accounts are different ones; compare two scans of one partition",
			ErrDiff, oldName, SanitizeCell(po, 20), newName, SanitizeCell(pn, 20))
	}
	oo, no := old.Organization, new.Organization
	if oo == nil || no == nil {
		return nil
	}
	if oo.ID != "" && no.ID != "" {
		if oo.ID != no.ID {
			return fmt.Errorf("%w: the old report %s is a scan of organization %s and the new report %s of organization %s: a diff follows one organization's migration: compare scans of one organization (accounts moved to another organization start a new baseline with its first scan)",
				ErrDiff, oldName, orgText(oo), newName, orgText(no))
		}
		if msg := managementDiffers("the old report "+oldName, oo, "the new report "+newName, no); msg != "" {
			return fmt.Errorf("%w: %s; compare reports as imdsfleet wrote them", ErrDiff, msg)
		}
		return nil
	}
	if ro, rn := orgRoot(oo), orgRoot(no); ro != "" && rn != "" && ro != rn {
		return fmt.Errorf("%w: the old report %s is a scan of the organization whose root is %s and the new report %s of the one whose root is %s: a diff follows one organization's migration: compare scans of one organization (accounts moved to another organization start a new baseline with its first scan)",
			ErrDiff, oldName, SanitizeCell(ro, 40), newName, SanitizeCell(rn, 40))
	}
	return nil
}
