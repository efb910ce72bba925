package loadtest

import (
	"context"
	"errors"
	"io"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

// itemsServer is a trivial items.v1.ItemService: every method answers at
// once with a fixed result. Behind the grpcauth interceptors it checks, as a
// second line of defence, that the claims it was handed carry the scopes the
// method requires; a handler that runs without them answers codes.Internal,
// which the callers count as a wrong decision.
type itemsServer struct {
	itemsv1.UnimplementedItemServiceServer
}

// maxImportMessages bounds what one ImportItems call reads.
const maxImportMessages = 16

func requireScopes(ctx context.Context, scopes ...string) error {
	c, ok := grpcauth.ClaimsFromContext(ctx)
	if !ok {
		return status.Error(codes.Internal, "handler ran without claims")
	}
	for _, s := range scopes {
		if !slices.Contains(c.Scopes(), s) {
			return status.Errorf(codes.Internal, "handler ran without scope %s", s)
		}
	}
	return nil
}

var item = &itemsv1.Item{Id: "item-1", Name: "one"}

func (itemsServer) GetServerInfo(context.Context, *itemsv1.GetServerInfoRequest) (*itemsv1.GetServerInfoResponse, error) {
	return &itemsv1.GetServerInfoResponse{Issuer: "loadtest"}, nil
}

func (itemsServer) ListItems(ctx context.Context, _ *itemsv1.ListItemsRequest) (*itemsv1.ListItemsResponse, error) {
	if err := requireScopes(ctx, scopeRead); err != nil {
		return nil, err
	}
	return &itemsv1.ListItemsResponse{Items: []*itemsv1.Item{item}}, nil
}

func (itemsServer) GetItem(ctx context.Context, _ *itemsv1.GetItemRequest) (*itemsv1.GetItemResponse, error) {
	if err := requireScopes(ctx, scopeRead); err != nil {
		return nil, err
	}
	return &itemsv1.GetItemResponse{Item: item}, nil
}

func (itemsServer) CreateItem(ctx context.Context, req *itemsv1.CreateItemRequest) (*itemsv1.CreateItemResponse, error) {
	if err := requireScopes(ctx, scopeWrite); err != nil {
		return nil, err
	}
	return &itemsv1.CreateItemResponse{Item: &itemsv1.Item{Id: "item-2", Name: req.GetName()}}, nil
}

func (itemsServer) DeleteItem(ctx context.Context, _ *itemsv1.DeleteItemRequest) (*itemsv1.DeleteItemResponse, error) {
	if err := requireScopes(ctx, scopeWrite); err != nil {
		return nil, err
	}
	return &itemsv1.DeleteItemResponse{}, nil
}

func (itemsServer) WatchItems(_ *itemsv1.WatchItemsRequest, stream grpc.ServerStreamingServer[itemsv1.WatchItemsResponse]) error {
	if err := requireScopes(stream.Context(), scopeRead); err != nil {
		return err
	}
	if err := stream.Send(&itemsv1.WatchItemsResponse{Kind: itemsv1.WatchItemsResponse_KIND_EXISTING, Item: item}); err != nil {
		return err
	}
	return stream.Send(&itemsv1.WatchItemsResponse{Kind: itemsv1.WatchItemsResponse_KIND_SYNCED})
}

func (itemsServer) ImportItems(stream grpc.ClientStreamingServer[itemsv1.ImportItemsRequest, itemsv1.ImportItemsResponse]) error {
	if err := requireScopes(stream.Context(), scopeWrite); err != nil {
		return err
	}
	resp := &itemsv1.ImportItemsResponse{}
	for range maxImportMessages {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(resp)
		}
		if err != nil {
			return err
		}
		resp.Items = append(resp.Items, &itemsv1.Item{Name: req.GetName()})
	}
	return status.Error(codes.ResourceExhausted, "too many items")
}
