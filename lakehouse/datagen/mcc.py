"""Merchant category codes: the reference table behind `mcc_codes.json` and spending habits.

Each row is a real ISO 18245 code with its standard description, plus the generator's own
behaviour figures for it: how often people shop there in person and online, the median
ticket, and how attractive it is to fraudsters. The population builder reads it to give
merchants a category; the transaction generator reads the amounts; the fraud planner reads the
risk weights; `mcc_codes.json` is written from the first two columns only.
"""

from __future__ import annotations

import numpy as np

# code, description, in-person weight, online weight, median amount ($), fraud weight.
# Weights are relative shares; the fraud weight steers card bursts and account takeovers
# towards electronics, department stores, money transfer and jewelry (DATA.md), and is zero
# for tolls and utilities, which the real dataset shows without fraud.
MCC_TABLE: tuple[tuple[int, str, float, float, float, float], ...] = (
    (1711, "Heating, Plumbing, and Air Conditioning Contractors", 0.3, 0.0, 160.0, 0.0),
    (1731, "Electrical Contractors", 0.1, 0.0, 150.0, 0.0),
    (1750, "Carpentry Contractors", 0.1, 0.0, 170.0, 0.0),
    (1799, "Special Trade Contractors", 0.1, 0.0, 140.0, 0.0),
    (2741, "Miscellaneous Publishing and Printing", 0.1, 0.2, 35.0, 0.0),
    (3000, "Airlines: United Airlines", 0.05, 0.3, 310.0, 0.5),
    (3001, "Airlines: American Airlines", 0.05, 0.3, 310.0, 0.5),
    (3009, "Airlines: Air Canada", 0.02, 0.1, 330.0, 0.3),
    (3066, "Airlines: Southwest Airlines", 0.05, 0.3, 220.0, 0.5),
    (3174, "Airlines: JetBlue Airways", 0.02, 0.1, 230.0, 0.3),
    (3256, "Airlines: Alaska Airlines", 0.02, 0.1, 240.0, 0.2),
    (3390, "Car Rental: Dollar Rent A Car", 0.03, 0.1, 190.0, 0.2),
    (3504, "Hotels: Hilton", 0.03, 0.1, 200.0, 0.3),
    (3509, "Hotels: Marriott", 0.03, 0.1, 210.0, 0.3),
    (3640, "Hotels: Hyatt", 0.02, 0.1, 220.0, 0.2),
    (3684, "Hotels: Budget Host Inns", 0.02, 0.0, 90.0, 0.1),
    (3722, "Hotels: Wyndham", 0.02, 0.05, 150.0, 0.1),
    (3771, "Hotels: Caesars", 0.01, 0.02, 240.0, 0.1),
    (4111, "Local and Suburban Commuter Passenger Transportation", 1.5, 0.5, 7.0, 0.0),
    (4112, "Passenger Railways", 0.3, 0.3, 45.0, 0.2),
    (4121, "Taxicabs and Limousines", 3.5, 1.5, 18.0, 0.5),
    (4131, "Bus Lines", 0.3, 0.1, 25.0, 0.0),
    (4214, "Motor Freight Carriers and Trucking", 0.05, 0.05, 120.0, 0.0),
    (4411, "Steamship and Cruise Lines", 0.02, 0.1, 600.0, 0.3),
    (4511, "Airlines and Air Carriers", 0.1, 0.6, 300.0, 1.5),
    (4722, "Travel Agencies and Tour Operators", 0.1, 0.4, 350.0, 0.8),
    (4784, "Tolls and Bridge Fees", 3.5, 9.0, 8.0, 0.0),
    (4814, "Telecommunication Services", 0.8, 5.0, 60.0, 0.5),
    (4816, "Computer Network Services", 0.1, 1.0, 30.0, 0.5),
    (4829, "Wire Transfers and Money Orders", 3.0, 8.0, 60.0, 7.0),
    (4899, "Cable, Satellite, and Other Pay Television Services", 0.4, 5.0, 70.0, 0.2),
    (4900, "Utilities - Electric, Gas, Water, and Sanitary", 0.5, 10.0, 85.0, 0.0),
    (5045, "Computers, Computer Peripheral Equipment, and Software", 0.3, 1.5, 180.0, 3.0),
    (5094, "Precious Stones and Metals, Watches and Jewelry", 0.1, 0.2, 220.0, 2.0),
    (5192, "Books, Periodicals, and Newspapers", 0.4, 0.8, 15.0, 0.1),
    (5193, "Florists' Supplies, Nursery Stock, and Flowers", 0.2, 0.2, 40.0, 0.1),
    (5200, "Home Supply Warehouse Stores", 0.8, 0.3, 70.0, 0.5),
    (5211, "Lumber and Building Materials Stores", 1.4, 0.2, 65.0, 0.3),
    (5251, "Hardware Stores", 0.9, 0.1, 25.0, 0.2),
    (5261, "Nurseries and Lawn and Garden Supply Stores", 0.4, 0.1, 40.0, 0.1),
    (5300, "Wholesale Clubs", 4.5, 1.5, 70.0, 3.0),
    (5310, "Discount Stores", 2.3, 1.0, 38.0, 8.0),
    (5311, "Department Stores", 2.0, 1.5, 55.0, 12.0),
    (5331, "Variety Stores", 1.2, 0.0, 12.0, 0.3),
    (5399, "Miscellaneous General Merchandise", 0.5, 0.8, 35.0, 1.0),
    (5411, "Grocery Stores, Supermarkets", 11.0, 0.5, 42.0, 1.0),
    (5441, "Candy, Nut, and Confectionery Stores", 0.3, 0.1, 9.0, 0.0),
    (5462, "Bakeries", 0.8, 0.0, 11.0, 0.0),
    (5499, "Miscellaneous Food Stores", 10.0, 0.2, 22.0, 0.3),
    (5511, "Car and Truck Dealers (New and Used)", 0.05, 0.0, 450.0, 0.3),
    (5533, "Automotive Parts and Accessories Stores", 0.7, 0.2, 45.0, 0.2),
    (5541, "Service Stations", 10.0, 0.0, 32.0, 1.5),
    (5542, "Automated Fuel Dispensers", 1.5, 0.0, 38.0, 1.0),
    (5621, "Women's Ready-To-Wear Stores", 0.5, 0.5, 50.0, 1.0),
    (5641, "Children's and Infants' Wear Stores", 0.3, 0.3, 35.0, 0.5),
    (5651, "Family Clothing Stores", 1.0, 1.0, 50.0, 2.5),
    (5655, "Sports and Riding Apparel Stores", 0.3, 0.3, 60.0, 1.0),
    (5661, "Shoe Stores", 0.6, 0.5, 65.0, 2.0),
    (5691, "Men's and Women's Clothing Stores", 0.6, 0.6, 55.0, 1.5),
    (5712, "Furniture, Home Furnishings, and Equipment Stores", 0.3, 0.3, 180.0, 1.0),
    (5719, "Miscellaneous Home Furnishing Specialty Stores", 0.6, 0.4, 40.0, 0.5),
    (5722, "Household Appliance Stores", 0.2, 0.3, 220.0, 1.5),
    (5732, "Electronics Stores", 1.0, 1.5, 90.0, 9.0),
    (5733, "Music Stores - Musical Instruments, Pianos, and Sheet Music", 0.2, 0.2, 60.0, 0.5),
    (5734, "Computer Software Stores", 0.1, 0.6, 45.0, 1.5),
    (5812, "Eating Places and Restaurants", 7.5, 0.5, 28.0, 1.5),
    (5813, "Drinking Places (Alcoholic Beverages)", 1.2, 0.0, 26.0, 0.3),
    (5814, "Fast Food Restaurants", 4.0, 0.5, 10.0, 0.5),
    (5815, "Digital Goods - Media: Books, Movies, Music", 0.0, 6.0, 12.0, 3.0),
    (5816, "Digital Goods - Games", 0.0, 3.0, 15.0, 3.0),
    (5817, "Digital Goods - Applications (Excludes Games)", 0.0, 3.0, 9.0, 2.0),
    (5818, "Digital Goods - Large Digital Goods Merchant", 0.0, 3.0, 20.0, 2.0),
    (5912, "Drug Stores and Pharmacies", 5.8, 0.8, 26.0, 1.5),
    (5921, "Package Stores - Beer, Wine, and Liquor", 1.0, 0.1, 25.0, 0.2),
    (5932, "Antique Shops", 0.1, 0.1, 70.0, 0.1),
    (5933, "Pawn Shops", 0.1, 0.0, 90.0, 0.5),
    (5941, "Sporting Goods Stores", 0.6, 0.6, 55.0, 2.0),
    (5942, "Book Stores", 0.4, 1.0, 22.0, 0.5),
    (5943, "Stationery, Office, and School Supply Stores", 0.5, 0.4, 25.0, 0.3),
    (5944, "Jewelry Stores, Watches, Clocks, and Silverware Stores", 0.3, 0.3, 140.0, 4.0),
    (5945, "Hobby, Toy, and Game Shops", 0.5, 0.6, 30.0, 1.0),
    (5947, "Gift, Card, Novelty, and Souvenir Shops", 0.6, 0.3, 20.0, 0.5),
    (5964, "Direct Marketing - Catalog Merchant", 0.0, 1.0, 45.0, 1.5),
    (5968, "Direct Marketing - Continuity/Subscription Merchant", 0.0, 1.5, 20.0, 0.5),
    (5970, "Artist's Supply and Craft Shops", 0.5, 0.3, 25.0, 0.2),
    (5977, "Cosmetic Stores", 0.6, 0.6, 30.0, 1.5),
    (5992, "Florists", 0.3, 0.3, 45.0, 0.2),
    (5993, "Cigar Stores and Stands", 0.4, 0.0, 15.0, 0.0),
    (5995, "Pet Shops, Pet Food, and Supplies", 0.6, 0.4, 35.0, 0.2),
    (5999, "Miscellaneous and Specialty Retail Stores", 0.8, 1.5, 40.0, 3.0),
    (6300, "Insurance Sales, Underwriting, and Premiums", 0.1, 1.0, 120.0, 0.0),
    (7011, "Lodging - Hotels, Motels, and Resorts", 0.5, 0.8, 160.0, 1.5),
    (7210, "Laundry, Cleaning, and Garment Services", 0.5, 0.0, 18.0, 0.0),
    (7230, "Beauty and Barber Shops", 1.2, 0.0, 35.0, 0.0),
    (7276, "Tax Preparation Services", 0.1, 0.3, 150.0, 0.0),
    (7349, "Cleaning, Maintenance, and Janitorial Services", 0.4, 0.1, 90.0, 0.0),
    (7372, "Computer Programming, Data Processing, and Integrated Systems Design",
     0.0, 0.8, 40.0, 0.5),
    (7512, "Automobile Rental Agency", 0.2, 0.4, 170.0, 0.5),
    (7523, "Parking Lots and Garages", 1.0, 0.3, 12.0, 0.0),
    (7538, "Automotive Service Shops (Non-Dealer)", 3.5, 0.1, 75.0, 0.3),
    (7542, "Car Washes", 0.8, 0.0, 14.0, 0.0),
    (7549, "Towing Services", 0.1, 0.0, 110.0, 0.0),
    (7801, "Government-Licensed On-Line Casinos (On-Line Gambling)", 0.0, 0.3, 50.0, 1.0),
    (7832, "Motion Picture Theaters", 1.0, 0.6, 24.0, 0.2),
    (7922, "Theatrical Producers (Except Motion Pictures) and Ticket Agencies",
     0.2, 0.8, 85.0, 0.8),
    (7996, "Amusement Parks, Circuses, Carnivals, and Fortune Tellers", 0.4, 0.3, 60.0, 0.2),
    (7997, "Membership Clubs (Sports, Recreation, Athletic), Country Clubs", 0.5, 0.5, 45.0, 0.0),
    (8011, "Doctors and Physicians", 0.8, 0.1, 110.0, 0.0),
    (8021, "Dentists and Orthodontists", 0.5, 0.1, 140.0, 0.0),
    (8041, "Chiropractors", 0.3, 0.0, 60.0, 0.0),
    (8043, "Opticians, Optical Goods, and Eyeglasses", 0.3, 0.2, 120.0, 0.1),
    (8049, "Podiatrists and Chiropodists", 0.2, 0.0, 90.0, 0.0),
    (8062, "Hospitals", 0.4, 0.1, 180.0, 0.0),
    (8099, "Medical Services and Health Practitioners", 0.6, 0.2, 90.0, 0.0),
    (8111, "Legal Services and Attorneys", 0.2, 0.2, 250.0, 0.0),
    (8220, "Colleges, Universities, Professional Schools, and Junior Colleges",
     0.1, 0.3, 300.0, 0.0),
    (8398, "Charitable and Social Service Organizations", 0.1, 0.5, 45.0, 0.3),
    (8931, "Accounting, Auditing, and Bookkeeping Services", 0.1, 0.2, 140.0, 0.0),
    (9311, "Tax Payments", 0.05, 0.3, 300.0, 0.0),
    (9402, "Postal Services - Government Only", 0.6, 0.2, 14.0, 0.0),
)

CODES = np.array([row[0] for row in MCC_TABLE], dtype=np.int32)
DESCRIPTIONS: tuple[str, ...] = tuple(row[1] for row in MCC_TABLE)
IN_PERSON_WEIGHT = np.array([row[2] for row in MCC_TABLE], dtype=np.float64)
ONLINE_WEIGHT = np.array([row[3] for row in MCC_TABLE], dtype=np.float64)
MEDIAN_AMOUNT = np.array([row[4] for row in MCC_TABLE], dtype=np.float64)
FRAUD_WEIGHT = np.array([row[5] for row in MCC_TABLE], dtype=np.float64)

# Categories a skimmer or a breached checkout typically sits in (compromised merchants).
SKIMMABLE_CODES: tuple[int, ...] = (5311, 5310, 5300, 5912, 5541, 5542, 5812, 5732)


def mcc_json_mapping() -> dict[str, str]:
    """The content of mcc_codes.json: code as text (no leading zeros) -> description.

    Returns:
        Every code of the table, as text, mapped to its description.
    """
    return {str(code): description for code, description in zip(CODES.tolist(), DESCRIPTIONS,
                                                                strict=True)}


def index_of(code: int) -> int:
    """Row number of `code` in the table.

    Args:
        code: a merchant category code present in `CODES`.

    Returns:
        Its position in `CODES` (and in the other per-code arrays).

    Raises:
        IndexError: `code` is not in the table.
    """
    return int(np.flatnonzero(code == CODES)[0])
