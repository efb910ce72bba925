package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

// maxImport bounds the items one ImportItems call may create.
const maxImport = 1000

// service implements items.v1.ItemService. By the time a handler runs, the
// grpcauth interceptors have verified the caller's token and its scopes;
// the handlers only read the caller's identity from the claims.
type service struct {
	itemsv1.UnimplementedItemServiceServer

	store *store
	info  *itemsv1.GetServerInfoResponse
	// stopping is closed when the server begins to shut down; it ends every
	// WatchItems stream so that a graceful stop does not wait for them.
	stopping <-chan struct{}
	log      *slog.Logger
}

// caller returns the subject and client id of the verified token on ctx.
// The subject is the token's sub or, for a token without one, its client
// id (the client is then the caller, as in a client-credentials token,
// whose sub Okta sets to the client id). A token naming neither is
// refused with PermissionDenied: it names nobody to record, and every
// such token would share the owner "", so each could delete the items of
// all the others.
func (s *service) caller(ctx context.Context) (subject, clientID string, err error) {
	c, ok := grpcauth.ClaimsFromContext(ctx)
	if !ok {
		// Only a method annotated as public runs without claims, and
		// none of the methods that call this is.
		s.log.Error("handler ran without verified claims", "method", methodName(ctx))
		return "", "", status.Error(codes.Internal, "internal error")
	}
	subject = c.Subject()
	if subject == "" {
		subject = c.ClientID()
	}
	if subject == "" {
		// A refusal of the handler's own: logged like grpcauth's.
		s.log.Info("call refused: the token names no caller", "method", methodName(ctx), "code", codes.PermissionDenied)
		return "", "", status.Error(codes.PermissionDenied, "the access token names no subject or client")
	}
	return subject, c.ClientID(), nil
}

func methodName(ctx context.Context) string {
	m, _ := grpc.Method(ctx)
	return m
}

// storeError maps a store error to a status.
func storeError(err error) error {
	switch {
	case errors.Is(err, errNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, errNotOwner):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, errFull):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, errEmptyName), errors.Is(err, errLongName):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, "internal error")
}

func (s *service) GetServerInfo(context.Context, *itemsv1.GetServerInfoRequest) (*itemsv1.GetServerInfoResponse, error) {
	return s.info, nil
}

func (s *service) ListItems(context.Context, *itemsv1.ListItemsRequest) (*itemsv1.ListItemsResponse, error) {
	return &itemsv1.ListItemsResponse{Items: s.store.list()}, nil
}

func (s *service) GetItem(_ context.Context, req *itemsv1.GetItemRequest) (*itemsv1.GetItemResponse, error) {
	it, err := s.store.get(req.GetId())
	if err != nil {
		return nil, storeError(err)
	}
	return &itemsv1.GetItemResponse{Item: it}, nil
}

func (s *service) CreateItem(ctx context.Context, req *itemsv1.CreateItemRequest) (*itemsv1.CreateItemResponse, error) {
	sub, cid, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	// The (grpcauth.v1.method) condition has already checked that only an
	// items:admin caller names another owner.
	owner := req.GetOwner()
	if owner == "" {
		owner = sub
	}
	it, err := s.store.createFor(req.GetName(), owner, sub, cid)
	if err != nil {
		return nil, storeError(err)
	}
	s.log.Info("item created", "id", it.GetId(), "owner", owner, "created_by", sub, "client_id", cid)
	return &itemsv1.CreateItemResponse{Item: it}, nil
}

func (s *service) DeleteItem(ctx context.Context, req *itemsv1.DeleteItemRequest) (*itemsv1.DeleteItemResponse, error) {
	sub, cid, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	// Ownership depends on the stored item, which no declarative rule can
	// see: the handler checks it (grpcauth checked items:write).
	c, _ := grpcauth.ClaimsFromContext(ctx)
	if err := s.store.deleteBy(req.GetId(), sub, c.HasScope("items:admin")); err != nil {
		if errors.Is(err, errNotOwner) {
			// A refusal of the handler's own: logged like grpcauth's.
			s.log.Info("item delete denied: not the owner", "method", methodName(ctx), "code", codes.PermissionDenied, "id", req.GetId(), "subject", sub, "client_id", cid)
		}
		return nil, storeError(err)
	}
	s.log.Info("item deleted", "id", req.GetId(), "deleted_by", sub, "client_id", cid)
	return &itemsv1.DeleteItemResponse{}, nil
}

func (s *service) PurgeItems(ctx context.Context, _ *itemsv1.PurgeItemsRequest) (*itemsv1.PurgeItemsResponse, error) {
	sub, cid, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	// grpcauth checked items:admin and a recent strong sign-in (step-up).
	n := s.store.purge()
	s.log.Info("items purged", "count", n, "purged_by", sub, "client_id", cid)
	return &itemsv1.PurgeItemsResponse{Count: int32(n)}, nil
}

func (s *service) WatchItems(_ *itemsv1.WatchItemsRequest, stream grpc.ServerStreamingServer[itemsv1.WatchItemsResponse]) error {
	w, existing := s.store.watch()
	defer s.store.unwatch(w)
	for _, it := range existing {
		if err := stream.Send(&itemsv1.WatchItemsResponse{Kind: itemsv1.WatchItemsResponse_KIND_EXISTING, Item: it}); err != nil {
			return err
		}
	}
	if err := stream.Send(&itemsv1.WatchItemsResponse{Kind: itemsv1.WatchItemsResponse_KIND_SYNCED}); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				return status.Error(codes.ResourceExhausted, "watch fell too far behind; watch again")
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return status.Error(codes.Unavailable, "server is shutting down")
		}
	}
}

func (s *service) ImportItems(stream grpc.ClientStreamingServer[itemsv1.ImportItemsRequest, itemsv1.ImportItemsResponse]) error {
	sub, cid, err := s.caller(stream.Context())
	if err != nil {
		return err
	}
	resp := &itemsv1.ImportItemsResponse{}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			s.log.Info("items imported", "count", len(resp.GetItems()), "created_by", sub, "client_id", cid)
			return stream.SendAndClose(resp)
		}
		if err != nil {
			return err
		}
		if len(resp.GetItems()) >= maxImport {
			return status.Errorf(codes.InvalidArgument, "one import may create at most %d items", maxImport)
		}
		it, err := s.store.create(req.GetName(), sub, cid)
		if err != nil {
			return storeError(err)
		}
		resp.Items = append(resp.Items, it)
	}
}
