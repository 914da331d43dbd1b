"""Places the synthetic population lives and shops in.

Reference data only: US cities (state, a representative zip code, latitude/longitude and a
relative population used to draw home towns), foreign countries with a merchant city (the
"abroad" rows put the country name in `merchant_state`), and street names for addresses.
The population builder reads these tables; nothing here touches files.
"""

from __future__ import annotations

# city, state, zip, latitude, longitude, relative population
US_CITIES: tuple[tuple[str, str, int, float, float, float], ...] = (
    ("New York", "NY", 10001, 40.75, -73.99, 84.0), ("Brooklyn", "NY", 11201, 40.69, -73.99, 26.0),
    ("Buffalo", "NY", 14201, 42.89, -78.88, 2.6), ("Rochester", "NY", 14604, 43.16, -77.61, 2.1),
    ("Albany", "NY", 12207, 42.65, -73.76, 1.0), ("Los Angeles", "CA", 90012, 34.05, -118.24, 40.0),
    ("San Diego", "CA", 92101, 32.72, -117.16, 14.0),
    ("San Jose", "CA", 95113, 37.34, -121.89, 10.0),
    ("San Francisco", "CA", 94103, 37.77, -122.42, 8.8),
    ("Fresno", "CA", 93721, 36.74, -119.79, 5.3),
    ("Sacramento", "CA", 95814, 38.58, -121.49, 5.1), ("Vista", "CA", 92084, 33.2, -117.24, 1.0),
    ("Pomona", "CA", 91766, 34.06, -117.75, 1.5), ("Bakersfield", "CA", 93301, 35.37, -119.02, 3.8),
    ("Chicago", "IL", 60601, 41.88, -87.63, 27.0), ("Springfield", "IL", 62701, 39.8, -89.64, 1.1),
    ("Peoria", "IL", 61602, 40.69, -89.59, 1.1), ("Houston", "TX", 77002, 29.76, -95.37, 23.0),
    ("San Antonio", "TX", 78205, 29.42, -98.49, 15.0), ("Dallas", "TX", 75201, 32.78, -96.8, 13.0),
    ("Austin", "TX", 78701, 30.27, -97.74, 9.6), ("Fort Worth", "TX", 76102, 32.75, -97.33, 9.0),
    ("El Paso", "TX", 79901, 31.76, -106.49, 6.8), ("Lubbock", "TX", 79401, 33.58, -101.86, 2.5),
    ("Phoenix", "AZ", 85004, 33.45, -112.07, 16.0), ("Tucson", "AZ", 85701, 32.22, -110.97, 5.4),
    ("Mesa", "AZ", 85201, 33.42, -111.83, 5.0), ("Philadelphia", "PA", 19103, 39.95, -75.17, 15.8),
    ("Pittsburgh", "PA", 15222, 40.44, -80.0, 3.0), ("Allentown", "PA", 18101, 40.6, -75.47, 1.2),
    ("Jacksonville", "FL", 32202, 30.33, -81.66, 9.0), ("Miami", "FL", 33130, 25.77, -80.19, 4.6),
    ("Tampa", "FL", 33602, 27.95, -82.46, 4.0), ("Orlando", "FL", 32801, 28.54, -81.38, 2.9),
    ("Tallahassee", "FL", 32301, 30.44, -84.28, 1.9), ("Columbus", "OH", 43215, 39.96, -83.0, 9.0),
    ("Cleveland", "OH", 44113, 41.5, -81.69, 3.8), ("Cincinnati", "OH", 45202, 39.1, -84.51, 3.0),
    ("Toledo", "OH", 43604, 41.65, -83.54, 2.7), ("Charlotte", "NC", 28202, 35.23, -80.84, 8.7),
    ("Raleigh", "NC", 27601, 35.78, -78.64, 4.7), ("Greensboro", "NC", 27401, 36.07, -79.79, 2.9),
    ("Indianapolis", "IN", 46204, 39.77, -86.16, 8.7),
    ("Fort Wayne", "IN", 46802, 41.08, -85.14, 2.7),
    ("Seattle", "WA", 98101, 47.61, -122.33, 7.4), ("Spokane", "WA", 99201, 47.66, -117.43, 2.2),
    ("Tacoma", "WA", 98402, 47.25, -122.44, 2.1), ("Denver", "CO", 80202, 39.74, -104.99, 7.2),
    ("Colorado Springs", "CO", 80903, 38.83, -104.82, 4.7),
    ("Washington", "DC", 20001, 38.91, -77.02, 7.0),
    ("Boston", "MA", 2108, 42.36, -71.06, 6.9), ("Worcester", "MA", 1608, 42.26, -71.8, 1.8),
    ("Nashville", "TN", 37203, 36.16, -86.78, 6.7), ("Memphis", "TN", 38103, 35.15, -90.05, 6.5),
    ("Knoxville", "TN", 37902, 35.96, -83.92, 1.9), ("Detroit", "MI", 48226, 42.33, -83.05, 6.7),
    ("Grand Rapids", "MI", 49503, 42.96, -85.67, 2.0), ("Lansing", "MI", 48933, 42.73, -84.55, 1.2),
    ("Portland", "OR", 97204, 45.52, -122.68, 6.5), ("Eugene", "OR", 97401, 44.05, -123.09, 1.7),
    ("Las Vegas", "NV", 89101, 36.17, -115.14, 6.4), ("Reno", "NV", 89501, 39.53, -119.81, 2.5),
    ("Louisville", "KY", 40202, 38.25, -85.76, 6.2), ("Lexington", "KY", 40507, 38.05, -84.5, 3.2),
    ("Baltimore", "MD", 21202, 39.29, -76.61, 6.0), ("Frederick", "MD", 21701, 39.41, -77.41, 0.7),
    ("Milwaukee", "WI", 53202, 43.04, -87.91, 5.9), ("Madison", "WI", 53703, 43.07, -89.4, 2.5),
    ("Albuquerque", "NM", 87102, 35.08, -106.65, 5.6),
    ("Santa Fe", "NM", 87501, 35.69, -105.94, 0.8),
    ("Oklahoma City", "OK", 73102, 35.47, -97.52, 6.5), ("Tulsa", "OK", 74103, 36.15, -95.99, 4.0),
    ("Kansas City", "MO", 64106, 39.1, -94.58, 4.9), ("St. Louis", "MO", 63101, 38.63, -90.2, 3.0),
    ("Atlanta", "GA", 30303, 33.75, -84.39, 4.9), ("Savannah", "GA", 31401, 32.08, -81.09, 1.5),
    ("Omaha", "NE", 68102, 41.26, -95.94, 4.7), ("Lincoln", "NE", 68508, 40.81, -96.7, 2.8),
    ("Minneapolis", "MN", 55401, 44.98, -93.27, 4.2), ("St. Paul", "MN", 55102, 44.95, -93.09, 3.0),
    ("New Orleans", "LA", 70112, 29.95, -90.07, 3.9),
    ("Baton Rouge", "LA", 70801, 30.45, -91.19, 2.2),
    ("Wichita", "KS", 67202, 37.69, -97.34, 3.9), ("Topeka", "KS", 66603, 39.05, -95.68, 1.3),
    ("Virginia Beach", "VA", 23451, 36.85, -75.98, 4.5),
    ("Richmond", "VA", 23219, 37.54, -77.44, 2.3),
    ("Newark", "NJ", 7102, 40.74, -74.17, 2.8), ("Jersey City", "NJ", 7302, 40.72, -74.07, 2.6),
    ("Birmingham", "AL", 35203, 33.52, -86.81, 2.1), ("Montgomery", "AL", 36104, 32.38, -86.3, 2.0),
    ("Salt Lake City", "UT", 84101, 40.76, -111.89, 2.0),
    ("Provo", "UT", 84601, 40.23, -111.66, 1.2),
    ("Des Moines", "IA", 50309, 41.59, -93.62, 2.1),
    ("Cedar Rapids", "IA", 52401, 41.98, -91.67, 1.3),
    ("Little Rock", "AR", 72201, 34.75, -92.29, 2.0),
    ("Fayetteville", "AR", 72701, 36.06, -94.16, 0.9),
    ("Jackson", "MS", 39201, 32.3, -90.18, 1.6), ("Gulfport", "MS", 39501, 30.37, -89.09, 0.7),
    ("Columbia", "SC", 29201, 34.0, -81.03, 1.3), ("Charleston", "SC", 29401, 32.78, -79.93, 1.4),
    ("Hartford", "CT", 6103, 41.76, -72.68, 1.2), ("Bridgeport", "CT", 6604, 41.19, -73.2, 1.5),
    ("Boise", "ID", 83702, 43.62, -116.2, 2.3), ("Anchorage", "AK", 99501, 61.22, -149.9, 2.9),
    ("Honolulu", "HI", 96813, 21.31, -157.86, 3.5), ("Billings", "MT", 59101, 45.78, -108.5, 1.1),
    ("Fargo", "ND", 58102, 46.88, -96.79, 1.2), ("Beulah", "ND", 58523, 47.26, -101.78, 0.1),
    ("Sioux Falls", "SD", 57104, 43.55, -96.73, 1.8),
    ("Cheyenne", "WY", 82001, 41.14, -104.82, 0.6),
    ("Burlington", "VT", 5401, 44.48, -73.21, 0.4), ("Manchester", "NH", 3101, 42.99, -71.46, 1.1),
    ("Portland", "ME", 4101, 43.66, -70.26, 0.7), ("Providence", "RI", 2903, 41.82, -71.41, 1.8),
    ("Wilmington", "DE", 19801, 39.74, -75.55, 0.7),
    ("Charleston", "WV", 25301, 38.35, -81.63, 0.5),
)

# country (written in merchant_state), merchant city, share of legitimate travel spending.
COUNTRIES: tuple[tuple[str, str, float], ...] = (
    ("Mexico", "Cancun", 14.0), ("Canada", "Toronto", 12.0), ("Italy", "Rome", 8.0),
    ("United Kingdom", "London", 8.0), ("France", "Paris", 7.0), ("Germany", "Berlin", 5.0),
    ("Spain", "Madrid", 5.0), ("Japan", "Tokyo", 4.0), ("China", "Shanghai", 4.0),
    ("Dominican Republic", "Punta Cana", 4.0), ("Jamaica", "Montego Bay", 3.0),
    ("India", "Mumbai", 3.0), ("Netherlands", "Amsterdam", 3.0), ("Ireland", "Dublin", 2.5),
    ("Greece", "Athens", 2.5), ("Philippines", "Manila", 2.5), ("Costa Rica", "San Jose", 2.0),
    ("Portugal", "Lisbon", 2.0), ("Brazil", "Rio de Janeiro", 2.0), ("Turkey", "Istanbul", 1.5),
    ("Haiti", "Port-au-Prince", 1.0), ("Israel", "Jerusalem", 1.5), ("Thailand", "Bangkok", 1.5),
    ("South Korea", "Seoul", 1.5), ("Australia", "Sydney", 1.5), ("Peru", "Lima", 1.0),
    ("Colombia", "Bogota", 1.0), ("Nigeria", "Lagos", 0.5), ("Egypt", "Cairo", 0.5),
    ("Vietnam", "Hanoi", 0.5),
)

STREET_NAMES: tuple[str, ...] = (
    "Rose", "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Sunset",
    "Park", "Main", "Lincoln", "Jefferson", "Madison", "Ridge", "River", "Spring", "Forest",
    "Valley", "Highland", "Meadow", "Willow", "Birch", "Cherry", "Walnut", "Church", "Mill",
    "Center", "Union", "Jackson", "Franklin", "Adams", "Wilson", "Grant", "Hickory", "Lakeview",
    "Bay", "Pearl", "Plum", "Essex", "Summit", "Harbor", "Ocean", "Valley View", "Prospect",
)
STREET_SUFFIXES: tuple[str, ...] = (
    "Street", "Avenue", "Lane", "Drive", "Boulevard", "Road", "Court", "Way", "Place",
)
