//! Table and column names, shared by the migrations.

use shiplap::prelude::*;

/// `users`
#[derive(Iden, Clone, Copy)]
#[allow(missing_docs)]
pub enum Users {
    Table,
    Id,
    Email,
    Name,
    DisplayName,
    Preferences,
    MarketingOptIn,
    CreatedAt,
}

/// `products`
#[derive(Iden, Clone, Copy)]
#[allow(missing_docs)]
pub enum Products {
    Table,
    Id,
    Sku,
    Name,
    PriceCents,
    CreatedAt,
}

/// `orders`
#[derive(Iden, Clone, Copy)]
#[allow(missing_docs)]
pub enum Orders {
    Table,
    Id,
    UserId,
    Status,
    TotalCents,
    CreatedAt,
    PlacedAt,
}

/// `order_items`
#[derive(Iden, Clone, Copy)]
#[allow(missing_docs)]
pub enum OrderItems {
    Table,
    Id,
    OrderId,
    ProductId,
    Quantity,
    UnitPriceCents,
}
