package aws

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/spotrank"
)

func TestSpotPlacementScores(t *testing.T) {
	types := []string{"m6i.large", "c6i.large", "m6i.large", "r6i.large"}
	for _, tc := range []struct {
		name    string
		region  string
		perZone bool
		pages   [][]string
		want    []cloud.PlacementScore
		// params are the form values every request must carry ("" means absent).
		params map[string]string
	}{{
		name: "per zone, over two pages", region: "eu-west-1", perZone: true,
		pages: [][]string{
			{placementItem("eu-west-1", "euw1-az3", 9), placementItem("eu-west-1", "euw1-az1", 7)},
			{placementItem("eu-west-1", "euw1-az2", 3)},
		},
		want: []cloud.PlacementScore{
			{Region: "eu-west-1", ZoneID: "euw1-az1", Score: 7},
			{Region: "eu-west-1", ZoneID: "euw1-az2", Score: 3},
			{Region: "eu-west-1", ZoneID: "euw1-az3", Score: 9},
		},
		params: map[string]string{"SingleAvailabilityZone": "true", "RegionName.1": "eu-west-1"},
	}, {
		// Another region than the configuration's: the client is built for it.
		name: "regional", region: "us-east-2",
		pages:  [][]string{{placementItem("us-east-2", "", 8)}},
		want:   []cloud.PlacementScore{{Region: "us-east-2", Score: 8}},
		params: map[string]string{"SingleAvailabilityZone": "false", "RegionName.1": "us-east-2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAWSServer(t)
			s.placement = tc.pages
			got, err := NewPlacementScores(s.config()).SpotPlacementScores(context.Background(), tc.region, types, 12, tc.perZone)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("scores = %+v, want %+v", got, tc.want)
			}
			if len(s.requests) != len(tc.pages) {
				t.Fatalf("%d requests, want one per page (%d)", len(s.requests), len(tc.pages))
			}
			for i, r := range s.requests {
				want := map[string]string{
					"Action": "GetSpotPlacementScores", "TargetCapacity": "12", "TargetCapacityUnitType": "units",
					// The distinct types, sorted.
					"InstanceType.1": "c6i.large", "InstanceType.2": "m6i.large", "InstanceType.3": "r6i.large", "InstanceType.4": "",
					"RegionName.2": "", "IncludeLocalZones": "", "InstanceRequirementsWithMetadata": "",
				}
				for k, v := range tc.params {
					want[k] = v
				}
				want["NextToken"] = ""
				if i > 0 {
					want["NextToken"] = fmt.Sprintf("page-%d", i)
				}
				for k, v := range want {
					if r.params[k] != v {
						t.Errorf("request %d: %s = %q, want %q", i, k, r.params[k], v)
					}
				}
				if !strings.Contains(r.authorization, "Credential="+testKeyID+"/") || !strings.Contains(r.authorization, "/"+tc.region+"/ec2/aws4_request") {
					t.Errorf("request %d not signed for EC2 in %s: %q", i, tc.region, r.authorization)
				}
			}
		})
	}
}

func TestSpotPlacementScoresThrottled(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures []string
		requests int
		// throttled is whether the call fails with a throttling error; else it succeeds.
		throttled bool
	}{
		{name: "request limit exceeded once, retried", failures: []string{"RequestLimitExceeded"}, requests: 2},
		{name: "request limit exceeded past the retries", failures: []string{"RequestLimitExceeded", "RequestLimitExceeded", "RequestLimitExceeded"},
			requests: 3, throttled: true},
		// Too many configurations in 24 hours: retrying at once cannot help.
		{name: "configuration limit, not retried", failures: []string{"MaxConfigLimitExceeded"}, requests: 1, throttled: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAWSServer(t)
			s.failures = tc.failures
			s.placement = [][]string{{placementItem("eu-west-1", "", 6)}}
			got, err := NewPlacementScores(s.config()).SpotPlacementScores(context.Background(), "eu-west-1",
				[]string{"m6i.large", "c6i.large", "r6i.large"}, 3, false)
			if len(s.requests) != tc.requests {
				t.Errorf("%d requests, want %d", len(s.requests), tc.requests)
			}
			if !tc.throttled {
				if err != nil || len(got) != 1 || got[0].Score != 6 {
					t.Fatalf("scores = %+v, %v; want one regional score of 6", got, err)
				}
				return
			}
			if !cloud.IsThrottled(err) || cloud.IsAccessDenied(err) || got != nil {
				t.Fatalf("scores = %+v, err = %v; want only a throttling error", got, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.failures[0]) || !strings.Contains(msg, "Spot placement scores in eu-west-1") ||
				!strings.Contains(msg, "ec2:GetSpotPlacementScores") {
				t.Errorf("message %q does not say what failed", msg)
			}
		})
	}
}

func TestSpotPlacementScoresAccessDenied(t *testing.T) {
	s := newAWSServer(t)
	s.failures = []string{"UnauthorizedOperation"}
	// A message that echoes the caller's access key id, as some AWS messages do.
	s.ec2Message = "You are not authorized to perform this operation. User with access key " + testKeyID +
		" is not authorized to perform: ec2:GetSpotPlacementScores"
	got, err := NewPlacementScores(s.config()).SpotPlacementScores(context.Background(), "eu-west-1",
		[]string{"m6i.large", "c6i.large", "r6i.large"}, 3, true)
	if !cloud.IsAccessDenied(err) || cloud.IsThrottled(err) || cloud.IsNotFound(err) || got != nil {
		t.Fatalf("scores = %+v, err = %v; want only an access-denied error", got, err)
	}
	// Not retried, and says what failed without credentials.
	if len(s.requests) != 1 {
		t.Errorf("%d requests, want 1", len(s.requests))
	}
	msg := err.Error()
	if !strings.Contains(msg, "UnauthorizedOperation") || !strings.Contains(msg, "ec2:GetSpotPlacementScores") ||
		!strings.Contains(msg, "Spot placement scores in eu-west-1") {
		t.Errorf("message %q does not say what failed", msg)
	}
	if strings.Contains(msg, testKeyID) || strings.Contains(msg, testSecret) || !strings.Contains(msg, "[REDACTED]") {
		t.Errorf("message %q shows credentials", msg)
	}
}

func TestSpotPlacementScoresRefusesBadRequests(t *testing.T) {
	tooMany := make([]string, MaxPlacementInstanceTypes+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("x%d.large", i)
	}
	three := []string{"m6i.large", "c6i.large", "r6i.large"}
	for _, tc := range []struct {
		name     string
		region   string
		types    []string
		capacity int32
		err      string
	}{
		{"no region", "", three, 1, "no region"},
		{"no instance types", "eu-west-1", nil, 1, "no instance types"},
		{"too many instance types", "eu-west-1", tooMany, 1, "1001 instance types, at most 1000"},
		{"no capacity", "eu-west-1", three, 0, "the capacity 0 is not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAWSServer(t)
			_, err := NewPlacementScores(s.config()).SpotPlacementScores(context.Background(), tc.region, tc.types, tc.capacity, false)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			// Refused before asking: a bad request would still count against the limits.
			if len(s.requests) != 0 {
				t.Errorf("%d requests, want none", len(s.requests))
			}
		})
	}
	// Exactly the limit, with duplicates beyond it, is one request.
	s := newAWSServer(t)
	s.placement = [][]string{{placementItem("eu-west-1", "", 5)}}
	limit := append(tooMany[:MaxPlacementInstanceTypes:MaxPlacementInstanceTypes], tooMany[0])
	if _, err := NewPlacementScores(s.config()).SpotPlacementScores(context.Background(), "eu-west-1", limit, 1, false); err != nil {
		t.Fatal(err)
	}
	if len(s.requests) != 1 || s.requests[0].params["InstanceType.1000"] == "" || s.requests[0].params["InstanceType.1001"] != "" {
		t.Errorf("%d requests, want one with 1000 instance types", len(s.requests))
	}
}

// TestSpotPlacementScoresPerFamily asks for the scores spotrank ranks LeastInterrupted's
// Spot supply by, through the cache the controller uses and the real SDK: one request
// per instance family, each type scored with its family's mean over zones, and the
// same questions answered from the cache afterwards.
func TestSpotPlacementScoresPerFamily(t *testing.T) {
	s := newAWSServer(t)
	s.placementFor = map[string][]string{
		"m6i.2xlarge,m6i.large,m6i.xlarge": {placementItem("eu-west-1", "euw1-az1", 9), placementItem("eu-west-1", "euw1-az2", 7)},
		"c7g.large,c7g.medium,c7g.xlarge":  {placementItem("eu-west-1", "euw1-az1", 2), placementItem("eu-west-1", "euw1-az3", 3)},
	}
	cached := &cloud.CachedPlacementScores{Source: NewPlacementScores(s.config())}
	types := []string{"m6i.large", "c7g.medium", "m6i.xlarge", "c7g.large", "m6i.2xlarge", "c7g.xlarge", "r6i.large", "r6i.xlarge"}
	got, err := spotrank.Scores(context.Background(), cached, "eu-west-1", types)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"m6i.large": 8, "m6i.xlarge": 8, "m6i.2xlarge": 8, "c7g.medium": 3, "c7g.large": 3, "c7g.xlarge": 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
	if len(s.requests) != 2 {
		t.Fatalf("%d requests, want one per family of three or more", len(s.requests))
	}
	for i, wantTypes := range []string{"c7g.large,c7g.medium,c7g.xlarge", "m6i.2xlarge,m6i.large,m6i.xlarge"} {
		r := s.requests[i].params
		var asked []string
		for n := 1; r[fmt.Sprintf("InstanceType.%d", n)] != ""; n++ {
			asked = append(asked, r[fmt.Sprintf("InstanceType.%d", n)])
		}
		if strings.Join(asked, ",") != wantTypes || r["SingleAvailabilityZone"] != "true" ||
			r["TargetCapacity"] != fmt.Sprint(spotrank.PlacementCapacity) || r["RegionName.1"] != "eu-west-1" {
			t.Errorf("request %d = %v, want %s per zone for %d instances", i, r, wantTypes, spotrank.PlacementCapacity)
		}
	}
	again, err := spotrank.Scores(context.Background(), cached, "eu-west-1", types)
	if err != nil || !reflect.DeepEqual(again, want) || len(s.requests) != 2 {
		t.Errorf("asked again: %v, %v, %d requests; want the cached answers", again, err, len(s.requests))
	}
}
