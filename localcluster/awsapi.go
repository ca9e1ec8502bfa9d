package localcluster

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ballast-dev/ballast/cloud"
)

// AWSAPI answers the two AWS calls commitment discovery makes, in their wire formats,
// for tests of the real controller binary: nothing that emulates EC2 or Savings Plans
// runs on these machines (ENVIRONMENT.md), so this stand-in follows the AWS API
// reference. EC2 is the query protocol (form POST Action=DescribeReservedInstances,
// Version 2016-11-15, XML reply); Savings Plans is REST-JSON (POST
// /DescribeSavingsPlans, JSON body and reply). Any other call is answered with the
// service's error format, so the SDK reports it rather than hanging.
type AWSAPI struct {
	// URL is the endpoint, http://127.0.0.1:port.
	URL string

	srv *http.Server
	mu  sync.Mutex
	ris []cloud.ReservedInstance
	sps []cloud.SavingsPlan
	// calls counts the calls answered, by operation.
	calls map[string]int
}

// StartAWSAPI serves the Reserved Instances and Savings Plans given (every
// reservation as active, Linux/UNIX, default tenancy; every plan as active).
func StartAWSAPI(ris []cloud.ReservedInstance, sps []cloud.SavingsPlan) (*AWSAPI, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &AWSAPI{URL: "http://" + l.Addr().String(), ris: ris, sps: sps, calls: map[string]int{}}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(l) }()
	return a, nil
}

// Stop stops serving.
func (a *AWSAPI) Stop() { _ = a.srv.Close() }

// Env is the environment that points an AWS SDK client (the controller's) at the
// stand-in: service endpoints, a region and static example credentials.
func (a *AWSAPI) Env(region string) []string {
	return []string{
		"AWS_ENDPOINT_URL_EC2=" + a.URL, "AWS_ENDPOINT_URL_SAVINGSPLANS=" + a.URL,
		"AWS_REGION=" + region, "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_EC2_METADATA_DISABLED=true",
	}
}

// Calls returns how many times op (DescribeReservedInstances, DescribeSavingsPlans)
// was answered.
func (a *AWSAPI) Calls(op string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[op]
}

func (a *AWSAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "expected a POST", http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/DescribeSavingsPlans" {
		a.serveSavingsPlans(w, body)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		savingsPlansError(w, http.StatusNotFound, "UnknownOperationException", "unknown operation "+r.URL.Path)
		return
	}
	action := form.Get("Action")
	if action != "DescribeReservedInstances" || form.Get("Version") != "2016-11-15" {
		ec2Error(w, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", action))
		return
	}
	a.mu.Lock()
	a.calls[action]++
	ris := a.ris
	a.mu.Unlock()
	type item struct {
		ID                 string `xml:"reservedInstancesId"`
		InstanceType       string `xml:"instanceType"`
		AvailabilityZone   string `xml:"availabilityZone,omitempty"`
		Start              string `xml:"start"`
		End                string `xml:"end"`
		Duration           int64  `xml:"duration"`
		InstanceCount      int32  `xml:"instanceCount"`
		ProductDescription string `xml:"productDescription"`
		State              string `xml:"state"`
		InstanceTenancy    string `xml:"instanceTenancy"`
		CurrencyCode       string `xml:"currencyCode"`
		OfferingType       string `xml:"offeringType"`
		OfferingClass      string `xml:"offeringClass"`
		Scope              string `xml:"scope"`
	}
	reply := struct {
		XMLName   xml.Name `xml:"DescribeReservedInstancesResponse"`
		Namespace string   `xml:"xmlns,attr"`
		RequestID string   `xml:"requestId"`
		Items     []item   `xml:"reservedInstancesSet>item"`
	}{Namespace: "http://ec2.amazonaws.com/doc/2016-11-15/", RequestID: "00000000-0000-4000-8000-000000000001"}
	for _, ri := range ris {
		it := item{ID: ri.ID, InstanceType: ri.InstanceType, AvailabilityZone: ri.Zone,
			Start: ri.End.AddDate(-1, 0, 0).UTC().Format("2006-01-02T15:04:05.000Z"), End: ri.End.UTC().Format("2006-01-02T15:04:05.000Z"),
			Duration: 31536000, InstanceCount: ri.Count, ProductDescription: "Linux/UNIX", State: "active", InstanceTenancy: "default",
			CurrencyCode: "USD", OfferingType: "No Upfront", OfferingClass: "standard", Scope: "Region"}
		if ri.Zone != "" {
			it.Scope = "Availability Zone"
		}
		reply.Items = append(reply.Items, it)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(reply)
}

func (a *AWSAPI) serveSavingsPlans(w http.ResponseWriter, body []byte) {
	var in struct {
		NextToken string   `json:"nextToken"`
		States    []string `json:"states"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		savingsPlansError(w, http.StatusBadRequest, "ValidationException", "the request body is not JSON")
		return
	}
	a.mu.Lock()
	a.calls["DescribeSavingsPlans"]++
	sps := a.sps
	a.mu.Unlock()
	var items []map[string]any
	for _, sp := range sps {
		commitment := strconv.FormatFloat(sp.PerHour, 'f', -1, 64)
		item := map[string]any{
			"savingsPlanId": sp.ID, "savingsPlanArn": "arn:aws:savingsplans::123456789012:savingsplan/" + sp.ID,
			"savingsPlanType": string(sp.Type), "state": "active", "commitment": commitment, "currency": "USD",
			"start": sp.End.AddDate(-1, 0, 0).UTC().Format("2006-01-02T15:04:05.000Z"), "end": sp.End.UTC().Format("2006-01-02T15:04:05.000Z"),
			"paymentOption": "No Upfront", "productTypes": []string{"EC2", "Fargate", "Lambda"}, "termDurationInSeconds": 31536000,
			"upfrontPaymentAmount": "0.0", "recurringPaymentAmount": commitment,
		}
		if sp.Family != "" {
			item["ec2InstanceFamily"], item["productTypes"] = sp.Family, []string{"EC2"}
		}
		if sp.Region != "" {
			item["region"] = sp.Region
		}
		items = append(items, item)
	}
	if items == nil {
		items = []map[string]any{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"savingsPlans": items})
}

func ec2Error(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>00000000-0000-4000-8000-000000000002</RequestID></Response>`, code, html.EscapeString(msg))
}

func savingsPlansError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
