package aws

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Static test credentials (AWS's documentation examples); errors must never show them.
const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// awsServer answers the Pricing, EC2 and Savings Plans APIs in their wire formats,
// from the shapes in the AWS API reference and the SDK's deserializers: Pricing is
// JSON 1.1 (POST /, X-Amz-Target AWSPriceListService.GetProducts, PriceList as JSON
// strings); EC2 is the query protocol (form POST Action=DescribeSpotPriceHistory,
// GetSpotPlacementScores or DescribeReservedInstances, XML reply); Savings Plans is
// REST-JSON (POST /DescribeSavingsPlans, JSON body and reply, errors named by the
// X-Amzn-ErrorType header).
type awsServer struct {
	t *testing.T
	*httptest.Server

	mu sync.Mutex
	// failures are answered, in order, before any success: a Pricing or EC2 error code.
	failures []string
	// requests records every request: the operation and its parameters.
	requests []recorded
	// products are Price List items by instance type; a type with two items is
	// answered over two pages.
	products map[string][]string
	// spot are DescribeSpotPriceHistory pages (item XML), chained with NextToken.
	spot [][]string
	// placement are GetSpotPlacementScores pages (item XML), chained with NextToken.
	placement [][]string
	// placementFor, when set, answers GetSpotPlacementScores by its instance types
	// (InstanceType.1, .2, ... joined by commas) with one page of items instead; a
	// set it does not list gets an empty page.
	placementFor map[string][]string
	// ec2Message, when set, replaces the message of EC2 errors.
	ec2Message string
	// reserved are the reservedInstancesSet items (XML) of DescribeReservedInstances.
	reserved []string
	// savingsPlans are DescribeSavingsPlans pages (JSON objects), chained with nextToken.
	savingsPlans [][]string
}

type recorded struct {
	op            string
	authorization string
	params        map[string]string
}

func newAWSServer(t *testing.T) *awsServer {
	s := &awsServer{t: t, products: map[string][]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *awsServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.servePricing(w, r, target, body)
		return
	}
	if r.URL.Path == "/DescribeSavingsPlans" {
		s.serveSavingsPlans(w, r, body)
		return
	}
	s.serveEC2(w, r, string(body))
}

func (s *awsServer) nextFailure() (string, bool) {
	if len(s.failures) == 0 {
		return "", false
	}
	code := s.failures[0]
	s.failures = s.failures[1:]
	return code, true
}

func (s *awsServer) servePricing(w http.ResponseWriter, r *http.Request, target string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in struct {
		ServiceCode string
		Filters     []struct{ Type, Field, Value string }
		NextToken   string
		MaxResults  int
	}
	if err := json.Unmarshal(body, &in); err != nil || target != "AWSPriceListService.GetProducts" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || r.Method != http.MethodPost {
		s.t.Errorf("not a GetProducts request: %s %s %q", r.Method, target, body)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	params := map[string]string{"ServiceCode": in.ServiceCode, "NextToken": in.NextToken}
	for _, f := range in.Filters {
		params[f.Field] = f.Type + ":" + f.Value
	}
	s.requests = append(s.requests, recorded{op: "GetProducts", authorization: r.Header.Get("Authorization"), params: params})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if code, ok := s.nextFailure(); ok {
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(http.StatusBadRequest)
		msg := "Rate exceeded"
		if code == "AccessDeniedException" {
			msg = "User with access key " + testKeyID + " is not authorized to perform: pricing:GetProducts"
		}
		_, _ = fmt.Fprintf(w, `{"__type":%q,"Message":%q}`, code, msg)
		return
	}
	items := s.products[strings.TrimPrefix(params["instanceType"], "TERM_MATCH:")]
	out := map[string]any{"FormatVersion": "aws_v1", "PriceList": []string{}}
	switch {
	case len(items) == 2 && in.NextToken == "":
		out["PriceList"], out["NextToken"] = items[:1], "page-2"
	case len(items) == 2:
		out["PriceList"] = items[1:]
	case len(items) == 1:
		out["PriceList"] = items
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *awsServer) serveEC2(w http.ResponseWriter, r *http.Request, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.t.Errorf("not an EC2 query request: %s %s", r.Method, r.Header.Get("Content-Type"))
	}
	r.Body = io.NopCloser(strings.NewReader(body))
	if err := r.ParseForm(); err != nil {
		s.t.Errorf("bad form: %v", err)
	}
	params := map[string]string{}
	for k, v := range r.PostForm {
		params[k] = v[0]
	}
	s.requests = append(s.requests, recorded{op: params["Action"], authorization: r.Header.Get("Authorization"), params: params})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if code, ok := s.nextFailure(); ok {
		status := http.StatusBadRequest
		msg := "You are not authorized to perform this operation."
		switch code {
		case "RequestLimitExceeded":
			status, msg = http.StatusServiceUnavailable, "Request limit exceeded."
		case "MaxConfigLimitExceeded":
			msg = "You have exceeded your maximum allowed Spot placement configurations. You can retry configurations " +
				"that you used within the last 24 hours, or wait for 24 hours before specifying a new configuration."
		}
		if s.ec2Message != "" {
			msg = s.ec2Message
		}
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`, code, msg)
		return
	}
	if params["Version"] != "2016-11-15" {
		s.t.Errorf("unexpected EC2 API version %v", params)
	}
	switch action := params["Action"]; action {
	case "DescribeSpotPriceHistory":
		items, next := page(s.spot, params["NextToken"])
		_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-example</requestId>
  <spotPriceHistorySet>%s</spotPriceHistorySet>%s
</DescribeSpotPriceHistoryResponse>`, items, next)
	case "GetSpotPlacementScores":
		items, next := page(s.placement, params["NextToken"])
		if s.placementFor != nil {
			var types []string
			for i := 1; params[fmt.Sprintf("InstanceType.%d", i)] != ""; i++ {
				types = append(types, params[fmt.Sprintf("InstanceType.%d", i)])
			}
			items, next = strings.Join(s.placementFor[strings.Join(types, ",")], ""), ""
		}
		_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<GetSpotPlacementScoresResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>4f2a3b1c-7d8e-4f90-a1b2-example</requestId>
  <spotPlacementScoreSet>%s</spotPlacementScoreSet>%s
</GetSpotPlacementScoresResponse>`, items, next)
	case "DescribeReservedInstances":
		_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<DescribeReservedInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>7a62c49f-347e-4fc4-9331-example</requestId>
  <reservedInstancesSet>%s</reservedInstancesSet>
</DescribeReservedInstancesResponse>`, strings.Join(s.reserved, ""))
	default:
		s.t.Errorf("unexpected EC2 call %v", params)
		http.Error(w, "unexpected action "+action, http.StatusBadRequest)
	}
}

// page answers the page a NextToken asks for (page-N; none is the first): its items
// and, unless it is the last, the nextToken element.
func page(pages [][]string, token string) (items, next string) {
	n := 0
	if token != "" {
		_, _ = fmt.Sscanf(token, "page-%d", &n)
	}
	if n+1 < len(pages) {
		next = fmt.Sprintf("<nextToken>page-%d</nextToken>", n+1)
	}
	if n < len(pages) {
		items = strings.Join(pages[n], "")
	}
	return items, next
}

// placementItem is one spotPlacementScoreSet item; zoneID is empty for a regional
// score, which has no availabilityZoneId element.
func placementItem(region, zoneID string, score int) string {
	zone := ""
	if zoneID != "" {
		zone = "<availabilityZoneId>" + zoneID + "</availabilityZoneId>"
	}
	return fmt.Sprintf(`<item><region>%s</region>%s<score>%d</score></item>`, region, zone, score)
}

// spotItem is one spotPriceHistorySet item.
func spotItem(typ, zone, price, at string) string {
	return fmt.Sprintf(`<item><instanceType>%s</instanceType><productDescription>Linux/UNIX</productDescription>`+
		`<spotPrice>%s</spotPrice><timestamp>%s</timestamp><availabilityZone>%s</availabilityZone></item>`, typ, price, at, zone)
}

// productJSON is one Price List product with an hourly On-Demand price, as
// GetProducts returns it (abridged: the fields Ballast reads and a few around them).
func productJSON(typ, region, usd string) string {
	return fmt.Sprintf(`{"product":{"productFamily":"Compute Instance","attributes":{"instanceType":%q,"regionCode":%q,`+
		`"operatingSystem":"Linux","tenancy":"Shared","preInstalledSw":"NA","capacitystatus":"Used","vcpu":"2"},"sku":"SKU1"},`+
		`"serviceCode":"AmazonEC2","terms":{"OnDemand":{"SKU1.JRTCKXETXF":{"priceDimensions":{"SKU1.JRTCKXETXF.6YS6EN2CT7":`+
		`{"unit":"Hrs","endRange":"Inf","description":"$%s per On Demand Linux %s Instance Hour","beginRange":"0",`+
		`"pricePerUnit":{"USD":%q}}},"sku":"SKU1","effectiveDate":"2026-06-01T00:00:00Z","offerTermCode":"JRTCKXETXF",`+
		`"termAttributes":{}}}},"version":"20260601000000","publicationDate":"2026-06-01T00:00:00Z"}`, typ, region, usd, typ, usd)
}

// noBackoff retries at once, so that tests exercise the SDK's retry path quickly.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// config points the real SDK at the server: base endpoint, static credentials, a
// region and a fast retryer of 3 attempts.
func (s *awsServer) config() awssdk.Config {
	return awssdk.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		BaseEndpoint: awssdk.String(s.URL),
		HTTPClient:   s.Client(),
		Retryer: func() awssdk.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = noBackoff{}
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// serveSavingsPlans answers DescribeSavingsPlans: the page its nextToken asks for, or
// the next failure with the REST-JSON error shape (the code in X-Amzn-ErrorType, the
// message in the body).
func (s *awsServer) serveSavingsPlans(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in struct {
		NextToken  string   `json:"nextToken"`
		States     []string `json:"states"`
		MaxResults int      `json:"maxResults"`
	}
	if err := json.Unmarshal(body, &in); err != nil || r.Method != http.MethodPost ||
		r.Header.Get("Content-Type") != "application/json" {
		s.t.Errorf("not a DescribeSavingsPlans request: %s %s %q", r.Method, r.Header.Get("Content-Type"), body)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.requests = append(s.requests, recorded{op: "DescribeSavingsPlans", authorization: r.Header.Get("Authorization"),
		params: map[string]string{"nextToken": in.NextToken, "states": strings.Join(in.States, ",")}})
	w.Header().Set("Content-Type", "application/json")
	if code, ok := s.nextFailure(); ok {
		status, msg := http.StatusBadRequest, "Rate exceeded"
		switch code {
		case "AccessDeniedException":
			status = http.StatusForbidden
			msg = "User: arn:aws:sts::123456789012:assumed-role/ballast/" + testKeyID +
				" is not authorized to perform: savingsplans:DescribeSavingsPlans"
		case "ThrottlingException":
			status = http.StatusTooManyRequests
		}
		w.Header().Set("X-Amzn-ErrorType", code+":http://internal.amazon.com/coral/com.amazon.coral.service/")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"message":%q}`, msg)
		return
	}
	n := 0
	if in.NextToken != "" {
		_, _ = fmt.Sscanf(in.NextToken, "page-%d", &n)
	}
	items := "[]"
	if n < len(s.savingsPlans) {
		items = "[" + strings.Join(s.savingsPlans[n], ",") + "]"
	}
	next := ""
	if n+1 < len(s.savingsPlans) {
		next = fmt.Sprintf(`,"nextToken":"page-%d"`, n+1)
	}
	_, _ = fmt.Fprintf(w, `{"savingsPlans":%s%s}`, items, next)
}

// reservedItem is one reservedInstancesSet item; zone is empty for a regional
// reservation (scope Region), which has no availabilityZone element.
func reservedItem(id, typ, zone string, count int, state, product, tenancy, end string) string {
	scope, az := "Region", ""
	if zone != "" {
		scope, az = "Availability Zone", "<availabilityZone>"+zone+"</availabilityZone>"
	}
	return fmt.Sprintf(`<item><reservedInstancesId>%s</reservedInstancesId><instanceType>%s</instanceType>%s`+
		`<start>2025-01-01T00:00:00.000Z</start><end>%s</end><duration>31536000</duration><usagePrice>0.0</usagePrice>`+
		`<fixedPrice>0.0</fixedPrice><instanceCount>%d</instanceCount><productDescription>%s</productDescription>`+
		`<state>%s</state><instanceTenancy>%s</instanceTenancy><currencyCode>USD</currencyCode>`+
		`<offeringType>No Upfront</offeringType><recurringCharges><item><frequency>Hourly</frequency><amount>0.06</amount></item></recurringCharges>`+
		`<offeringClass>standard</offeringClass><scope>%s</scope></item>`, id, typ, az, end, count, product, state, tenancy, scope)
}

// savingsPlanJSON is one savingsPlans item; family and region are empty for a Compute
// plan, whose reply has neither.
func savingsPlanJSON(id, typ, state, commitment, family, region, end string) string {
	item := map[string]any{
		"savingsPlanId": id, "savingsPlanArn": "arn:aws:savingsplans::123456789012:savingsplan/" + id,
		"savingsPlanType": typ, "state": state, "commitment": commitment, "currency": "USD",
		"start": "2025-01-01T00:00:00.000Z", "end": end, "paymentOption": "No Upfront",
		"productTypes": []string{"EC2", "Fargate", "Lambda"}, "termDurationInSeconds": 31536000,
		"upfrontPaymentAmount": "0.0", "recurringPaymentAmount": commitment, "offeringId": "off-" + id,
		"description": "1 year No Upfront " + typ,
	}
	if family != "" {
		item["ec2InstanceFamily"], item["productTypes"] = family, []string{"EC2"}
	}
	if region != "" {
		item["region"] = region
	}
	b, _ := json.Marshal(item)
	return string(b)
}
